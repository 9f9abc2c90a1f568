// A minimal npm registry on 127.0.0.1 for install checks that must look like `npm install NAME` from
// the registry (npm's allowScripts policy treats registry packages and tarball files differently:
// @npmcli/arborist lib/script-allowed.js matches a bare name like "trt-vla" only against a registry
// node's resolved URL). It serves
//   - the given tarballs (our package) as a registry package, and
//   - every other package and tarball from npm's own cache, as the public registry answered them
//     before; nothing is fetched from the network. A request the cache cannot answer gets a 404 and
//     is listed in `misses`. A packument lists only the versions whose tarballs are in the cache (and
//     `latest` is the newest of those), so npm resolves a fresh install to what the cache holds, the
//     versions `npm ci` installed, rather than to newer releases it never downloaded; a packument
//     none of whose tarballs are cached (another platform's optional binary package, which npm
//     only reads) is served whole.
// npm rewrites the public registry's tarball URLs in cached packuments to this registry
// (`replace-registry-host`, default "npmjs"), so tarballs come here too.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';

const PUBLIC = 'https://registry.npmjs.org';

/** npm's own cacache (the package npm reads its cache with), from npm's install folder. */
function loadCacache() {
  const npmCli = process.env.npm_execpath && /npm-cli\.js$/.test(process.env.npm_execpath) ? process.env.npm_execpath : undefined;
  const npmDir = npmCli
    ? path.resolve(path.dirname(npmCli), '..')
    : path.join(spawnSync('npm', ['root', '-g'], { encoding: 'utf8' }).stdout.trim(), 'npm');
  return createRequire(path.join(npmDir, 'package.json'))('cacache');
}

function manifestOf(tarballPath) {
  const read = spawnSync('tar', ['-xOzf', tarballPath, 'package/package.json'], { encoding: 'utf8' });
  if (read.status !== 0) throw new Error(`cannot read package.json from ${tarballPath}: ${read.stderr}`);
  return JSON.parse(read.stdout);
}

/**
 * @param {{ cacheDir: string, tarballs: string[] }} options  cacheDir: npm's cache (`npm config get cache`)
 * @returns {Promise<{ url: string, misses: string[], served: string[], close(): Promise<void> }>}
 */
export async function startLocalRegistry({ cacheDir, tarballs }) {
  const cacache = loadCacache();
  const cache = path.join(cacheDir, '_cacache');
  const own = new Map(); // name -> { manifest, data, file }
  for (const file of tarballs) {
    const manifest = manifestOf(file);
    own.set(manifest.name, { manifest, data: readFileSync(file), file: `${manifest.name.split('/').pop()}-${manifest.version}.tgz` });
  }
  const misses = [];
  const served = [];
  let url = '';

  const packumentOf = ({ manifest, data, file }) => {
    const integrity = `sha512-${createHash('sha512').update(data).digest('base64')}`;
    const shasum = createHash('sha1').update(data).digest('hex');
    const version = { ...manifest, _id: `${manifest.name}@${manifest.version}`, dist: { tarball: `${url}/${manifest.name}/-/${file}`, integrity, shasum } };
    return { name: manifest.name, 'dist-tags': { latest: manifest.version }, versions: { [manifest.version]: version } };
  };

  const cachedKeys = new Set(Object.keys(await cacache.ls(cache)));
  const tarballCached = (version) => cachedKeys.has(`make-fetch-happen:request-cache:${version?.dist?.tarball}`);
  const newest = (versions) =>
    versions
      .filter((v) => /^\d+\.\d+\.\d+$/.test(v))
      .sort((a, b) => {
        const pa = a.split('.').map(Number);
        const pb = b.split('.').map(Number);
        return pa[0] - pb[0] || pa[1] - pb[1] || pa[2] - pb[2];
      })
      .pop();
  const onlyCachedVersions = (body) => {
    const packument = JSON.parse(body.toString('utf8'));
    const kept = Object.fromEntries(Object.entries(packument.versions ?? {}).filter(([, v]) => tarballCached(v)));
    if (Object.keys(kept).length === 0) return body;
    const tags = { ...packument['dist-tags'] };
    if (!kept[tags.latest]) tags.latest = newest(Object.keys(kept)) ?? Object.keys(kept)[0];
    for (const [tag, v] of Object.entries(tags)) if (!kept[v]) delete tags[tag];
    return Buffer.from(JSON.stringify({ ...packument, 'dist-tags': tags, versions: kept }));
  };

  const fromCache = async (publicUrl) => {
    try {
      return (await cacache.get(cache, `make-fetch-happen:request-cache:${publicUrl}`)).data;
    } catch {
      return undefined;
    }
  };

  const server = http.createServer(async (req, res) => {
    const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\//, '');
    const tarballMatch = /^(.+?)\/-\/([^/]+\.tgz)$/.exec(pathname);
    const name = tarballMatch ? tarballMatch[1] : pathname;
    const mine = own.get(name);
    let body;
    let type = 'application/json';
    if (mine) {
      body = tarballMatch ? mine.data : Buffer.from(JSON.stringify(packumentOf(mine)));
    } else if (tarballMatch) {
      body = await fromCache(`${PUBLIC}/${name}/-/${tarballMatch[2]}`);
    } else {
      body = await fromCache(`${PUBLIC}/${name.replace('/', '%2f')}`);
      if (body) body = onlyCachedVersions(body);
    }
    if (tarballMatch) type = 'application/octet-stream';
    if (!body) {
      misses.push(`${req.method} /${pathname}`);
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":"not found"}');
      return;
    }
    served.push(pathname);
    res.writeHead(200, { 'content-type': type, 'content-length': body.length });
    res.end(body);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${server.address().port}`;
  return { url, misses, served, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
