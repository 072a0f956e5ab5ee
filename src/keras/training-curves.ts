/**
 * keras.callbacks.trainingCurves: a fit callback that draws the loss and every metric as training
 * runs, per batch and per epoch, validation too (as tfjs-vis's fitCallbacks do), into an HTML page
 * that reloads itself while fit runs, or an SVG file. The charts are SVG polylines written here: a
 * report that any browser, editor or README shows, with no script and no charting library to load.
 */
import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../runtime/errors.js';
import { Callback } from './model.js';

export interface TrainingCurvesArgs {
  /** Where to write: an .html page (reloads itself every `refreshSeconds` while fit runs) or an .svg drawing. */
  readonly file: string;
  /** How often the page reloads while training (default 2 s). */
  readonly refreshSeconds?: number;
  /** The shortest time between two writes during an epoch (default 0.5 s): batches come faster than pages. */
  readonly throttleSeconds?: number;
  readonly title?: string;
}

interface Series {
  readonly points: [number, number][];
  readonly per: 'batch' | 'epoch';
  readonly validation: boolean;
}

const WIDTH = 560;
const HEIGHT = 220;
const PAD = { left: 56, right: 16, top: 28, bottom: 34 };
const COLORS = { batch: '#90caf9', epoch: '#1565c0', validation: '#e65100' };

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
/** A short form of a tick value. */
const tick = (v: number) =>
  Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : String(+v.toPrecision(3));

/** One chart: the metric's batch values (thin), epoch values (thick) and validation values (dashed), against steps. */
function chart(name: string, series: readonly Series[], y0: number): string {
  const all = series.flatMap((s) => s.points).filter(([, v]) => Number.isFinite(v));
  if (all.length === 0) return '';
  const [xMax, yMin, yMax] = [
    Math.max(1, ...all.map(([x]) => x)),
    Math.min(...all.map(([, v]) => v)),
    Math.max(...all.map(([, v]) => v)),
  ];
  const span = yMax - yMin || Math.abs(yMax) || 1;
  const [lo, hi] = [yMin - span * 0.05, yMax + span * 0.05];
  const px = (x: number) => PAD.left + (x / xMax) * (WIDTH - PAD.left - PAD.right);
  const py = (v: number) => y0 + PAD.top + (1 - (v - lo) / (hi - lo)) * (HEIGHT - PAD.top - PAD.bottom);
  const lines = series.map((s) => {
    const color = s.validation ? COLORS.validation : COLORS[s.per];
    const points = s.points
      .filter(([, v]) => Number.isFinite(v))
      .map(([x, v]) => `${px(x).toFixed(1)},${py(v).toFixed(1)}`);
    const style = `fill="none" stroke="${color}" stroke-width="${s.per === 'epoch' ? 2 : 1}"${s.validation ? ' stroke-dasharray="5,3"' : ''}`;
    const label = `${s.validation ? 'val_' : ''}${name} per ${s.per}`;
    const dots =
      s.per === 'epoch'
        ? points
            .map((p) => `<circle cx="${p.split(',')[0]}" cy="${p.split(',')[1]}" r="2.5" fill="${color}"/>`)
            .join('')
        : '';
    return `<polyline class="series" data-name="${escape(label)}" data-points="${points.length}" points="${points.join(' ')}" ${style}><title>${escape(label)}</title></polyline>${dots}`;
  });
  const ticks = [lo, (lo + hi) / 2, hi]
    .map(
      (v) =>
        `<text x="${PAD.left - 6}" y="${py(v) + 4}" text-anchor="end">${tick(v)}</text><line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${py(v)}" y2="${py(v)}" stroke="#eceff1"/>`,
    )
    .join('');
  const legend = series
    .map((s, i) => {
      const color = s.validation ? COLORS.validation : COLORS[s.per];
      const x = PAD.left + 8 + i * 150;
      return `<line x1="${x}" x2="${x + 18}" y1="${y0 + 14}" y2="${y0 + 14}" stroke="${color}" stroke-width="2"${s.validation ? ' stroke-dasharray="5,3"' : ''}/><text x="${x + 22}" y="${y0 + 18}">${escape(`${s.validation ? 'val_' : ''}${name} (${s.per})`)}</text>`;
    })
    .join('');
  return `<g class="chart" data-metric="${escape(name)}"><rect x="0" y="${y0}" width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>${ticks}${legend}
<text x="${WIDTH / 2}" y="${y0 + HEIGHT - 8}" text-anchor="middle">batches seen</text>${lines.join('')}</g>`;
}

/** Every metric's chart, stacked, as one SVG. */
export function curvesSvg(metrics: ReadonlyMap<string, Series[]>, title: string): string {
  const charts = [...metrics].map(([name, series], i) => chart(name, series, 30 + i * HEIGHT));
  const height = 30 + metrics.size * HEIGHT;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">
<rect width="100%" height="100%" fill="#fafafa"/><text x="${WIDTH / 2}" y="20" text-anchor="middle" font-size="14">${escape(title)}</text>
${charts.join('\n')}
</svg>`;
}

/** Draws fit's logs as it runs. */
export class TrainingCurves extends Callback {
  private metrics = new Map<string, Series[]>();
  private batches = 0;
  private lastWrite = 0;
  private readonly format: 'html' | 'svg';

  constructor(private readonly args: TrainingCurvesArgs) {
    super();
    if (!args || typeof args.file !== 'string' || args.file === '')
      throw new ConfigError('trainingCurves: a file is required ({ file: "training.html" })');
    const ext = path.extname(args.file).toLowerCase();
    if (ext !== '.html' && ext !== '.svg')
      throw new ConfigError(`trainingCurves: ${args.file}: write an .html page or an .svg drawing`);
    this.format = ext === '.html' ? 'html' : 'svg';
  }

  private series(key: string, per: 'batch' | 'epoch'): Series {
    const validation = key.startsWith('val_');
    const name = validation ? key.slice(4) : key;
    const list = this.metrics.get(name) ?? [];
    this.metrics.set(name, list);
    let s = list.find((x) => x.per === per && x.validation === validation);
    if (!s) list.push((s = { points: [], per, validation }));
    return s;
  }

  private write(running: boolean): void {
    const title = this.args.title ?? 'training';
    const svg = curvesSvg(this.metrics, running ? `${title} (running: ${this.batches} batches)` : title);
    const refresh = running ? `<meta http-equiv="refresh" content="${this.args.refreshSeconds ?? 2}">` : '';
    const text =
      this.format === 'svg'
        ? svg
        : `<!doctype html><html lang="en"><head><meta charset="utf-8">${refresh}<title>${escape(title)}</title></head><body style="margin:16px;background:#fafafa">${svg}</body></html>\n`;
    // Written beside and renamed, so a page reloading mid-write never sees half a file.
    const temp = `${this.args.file}.${process.pid}.tmp`;
    writeFileSync(temp, text);
    renameSync(temp, this.args.file);
    this.lastWrite = performance.now();
  }

  override onTrainBegin(): void {
    this.metrics = new Map();
    this.batches = 0;
    this.write(true);
  }

  override onBatchEnd(_batch: number, logs: Record<string, number>): void {
    this.batches++;
    for (const [key, value] of Object.entries(logs))
      if (key !== 'batch' && key !== 'size' && typeof value === 'number')
        this.series(key, 'batch').points.push([this.batches, value]);
    if (performance.now() - this.lastWrite >= (this.args.throttleSeconds ?? 0.5) * 1000) this.write(true);
  }

  override onEpochEnd(_epoch: number, logs: Record<string, number>): void {
    for (const [key, value] of Object.entries(logs))
      if (typeof value === 'number') this.series(key, 'epoch').points.push([this.batches, value]);
    this.write(true);
  }

  override onTrainEnd(): void {
    this.write(false);
  }
}
