/** Keras's summary table: a row per layer (name and class, output shape, parameters), then the totals. */

/** The table as text, each column as wide as its widest cell (Keras 3 fits long class names the same way). */
export function layerTable(
  modelName: string,
  rows: readonly (readonly [string, string, string])[],
  total: number,
  trainable: number,
): string {
  const header = ['Layer (type)', 'Output Shape', 'Param #'] as const;
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)) + 2);
  const width = widths.reduce((a, b) => a + b, 0);
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('')
      .trimEnd();
  return [
    `Model: "${modelName}"`,
    '_'.repeat(width),
    line(header),
    '='.repeat(width),
    ...rows.map(line),
    '='.repeat(width),
    `Total params: ${total}`,
    `Trainable params: ${trainable}`,
    `Non-trainable params: ${total - trainable}`,
    '_'.repeat(width),
  ].join('\n');
}
