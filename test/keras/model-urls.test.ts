/**
 * TensorFlow.js's model URL schemes: http(s):// saves by a multipart POST (as TF.js's http handler) and
 * loads by fetch; the browser storages are errors naming the scheme in Node, never a folder.
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as T from 'tsano';
import * as keras from 'tsano/keras';

/** A server on 127.0.0.1 that keeps what is POSTed to /upload and serves it under /models/. */
let server: Server;
let base = '';
const stored = new Map<string, Uint8Array>();
beforeAll(async () => {
  server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const url = new URL(request.url ?? '/', base);
    if (request.method === 'POST' && url.pathname === '/upload') {
      const form = await new Request(url, {
        method: 'POST',
        headers: { 'content-type': request.headers['content-type'] ?? '' },
        body: Buffer.concat(chunks),
      }).formData();
      for (const [name, value] of form) stored.set(name, new Uint8Array(await (value as Blob).arrayBuffer()));
      return void response.writeHead(200).end('{}');
    }
    const file = stored.get(url.pathname.replace('/models/', ''));
    if (request.method === 'GET' && file) return void response.writeHead(200).end(file);
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
});
afterAll(() => server.close());

const model = () =>
  keras.sequential({
    layers: [
      keras.layers.dense({ units: 5, activation: 'relu', inputShape: [3] }),
      keras.layers.dense({ units: 2, activation: 'softmax' }),
    ],
  });

describe('model URLs', () => {
  it('http(s):// saves as TF.js posts a model (model.json and model.weights.bin) and loads by fetch, bit for bit', async () => {
    const m = model();
    await m.save(`${base}upload`);
    expect([...stored.keys()].sort()).toEqual(['model.json', 'model.weights.bin']);
    const json = JSON.parse(new TextDecoder().decode(stored.get('model.json'))) as {
      weightsManifest: { paths: string[] }[];
    };
    expect(json.weightsManifest[0]!.paths).toEqual(['./model.weights.bin']);
    const loaded = await keras.loadModel(`${base}models/model.json`);
    const x = T.randomNormal([4, 3], { seed: 1 });
    expect(Array.from((loaded.predict(x) as T.NDArray).data)).toEqual(Array.from((m.predict(x) as T.NDArray).data));
  });

  it('a missing model or server answer is a LoadError or SaveError naming the URL and the status', async () => {
    await expect(keras.loadModel(`${base}models/nothing.json`)).rejects.toThrow(
      /nothing\.json: model\.json: the server answered 404/,
    );
    await expect(model().save(`${base}elsewhere`)).rejects.toThrow(/elsewhere: the server answered 404/);
  });

  it("TF.js's browser storages are errors naming the scheme in Node, and write nothing", async () => {
    for (const scheme of ['indexeddb', 'localstorage', 'downloads']) {
      await expect(model().save(`${scheme}://my-model`)).rejects.toThrow(
        new RegExp(
          `${scheme}:// is a browser's storage .* save to a folder, a \\.keras or \\.h5 file, or an http\\(s\\):// URL`,
        ),
      );
      await expect(keras.loadModel(`${scheme}://my-model`)).rejects.toThrow(T.LoadError);
      expect(existsSync(`${scheme}:`)).toBe(false);
    }
    await expect(model().save('ftp://host/m')).rejects.toThrow(
      /the scheme ftp:\/\/ is not one tsano saves models with/,
    );
  });
});
