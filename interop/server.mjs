// Starts and stops an `orgusers` server for the interop tests, and reads
// the files in which the server hands out an org's first admin.
//
// Each server gets a fresh temporary directory, used both as its working
// directory (where it writes the admin files) and for its SQLite
// database, so tests never share state and leave nothing behind.

import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** The server binary: `ORGUSERS_BIN`, else the workspace's debug build. */
export const serverBin = process.env.ORGUSERS_BIN
  ? resolve(process.env.ORGUSERS_BIN)
  : resolve(here, '../target/debug/orgusers');

const LISTENING = /^orgusers listening on (http:\/\/\S+)$/;

// Only the end of the server's log is kept: enough to explain a failure.
const LOG_TAIL_BYTES = 16 * 1024;

/**
 * Starts `orgusers serve` on a free loopback port with a fresh SQLite
 * database, waits until it listens and reads its bootstrapped admin.
 *
 * Resolves to `{ baseUrl, dir, admin, log, stop }`: `admin` is what
 * `readAdmin` returns, `log()` the tail of the server's stderr, and
 * `stop()` ends the server and removes `dir`.
 */
export async function startServer({ timeoutMs = 30_000 } = {}) {
  assertExecutable(serverBin);
  const dir = await mkdtemp(join(tmpdir(), 'orgusers-interop-'));
  const database = `sqlite://${join(dir, 'orgusers.sqlite3')}`;
  const child = spawn(
    serverBin,
    ['serve', '--listen', '127.0.0.1:0', '--database', database],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);

  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-LOG_TAIL_BYTES);
  });
  const log = () => stderr;

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await endProcess(child);
    process.off('exit', killOnExit);
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const baseUrl = await listeningUrl(child, log, timeoutMs);
    const admin = await readAdmin(dir).catch((error) => {
      throw withLog(error.message, log);
    });
    return { baseUrl, dir, admin, log, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Reads `orgusers-admin.json` and `orgusers-admin.pem` from `dir`:
 * `{ orgId, username, userId, credId, privateKey }`, the key as PEM.
 */
export async function readAdmin(dir) {
  const jsonPath = join(dir, 'orgusers-admin.json');
  const pemPath = join(dir, 'orgusers-admin.pem');
  let admin;
  let privateKey;
  try {
    admin = JSON.parse(await readFile(jsonPath, 'utf8'));
    privateKey = await readFile(pemPath, 'utf8');
  } catch (error) {
    throw new Error(
      `cannot read the bootstrapped admin in ${dir}: ${error.message}`,
    );
  }
  for (const field of ['orgId', 'username', 'userId', 'credId']) {
    if (typeof admin[field] !== 'string' || admin[field] === '') {
      throw new Error(`${jsonPath} has no ${field}: ${JSON.stringify(admin)}`);
    }
  }
  return { ...admin, privateKey };
}

function assertExecutable(path) {
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(
      `no executable orgusers server at ${path}: build it with ` +
        '`cargo build -p orgusers`, or set ORGUSERS_BIN to its path',
    );
  }
}

// Resolves to the URL of the one line the server prints once it listens;
// rejects if the server exits, cannot start, or stays silent too long.
function listeningUrl(child, log, timeoutMs) {
  return new Promise((resolvePromise, reject) => {
    const lines = createInterface({ input: child.stdout });
    const fail = (why) => {
      cleanup();
      reject(withLog(`orgusers server ${why}`, log));
    };
    const onLine = (line) => {
      const match = LISTENING.exec(line.trim());
      if (!match) return;
      cleanup();
      // Later stdout is not read, but must be drained so the server never
      // blocks on a full pipe.
      child.stdout.resume();
      resolvePromise(match[1]);
    };
    // 'close' rather than 'exit': it comes once stderr is read to the end.
    const onClose = (code, signal) =>
      fail(`exited (${signal ?? `code ${code}`}) before it listened`);
    const onError = (error) => fail(`could not start: ${error.message}`);
    const timer = setTimeout(
      () => fail(`printed no listening line within ${timeoutMs} ms`),
      timeoutMs,
    );
    function cleanup() {
      clearTimeout(timer);
      lines.off('line', onLine);
      lines.close();
      child.off('close', onClose);
      child.off('error', onError);
    }
    lines.on('line', onLine);
    child.once('close', onClose);
    child.once('error', onError);
  });
}

function withLog(message, log) {
  const tail = log().trim() || '(nothing)';
  return new Error(`${message}; the server's stderr:\n${tail}`);
}

// Asks the server to stop, and kills it if it has not within 5 seconds.
function endProcess(child) {
  const running =
    child.pid !== undefined &&
    child.exitCode === null &&
    child.signalCode === null;
  if (!running) {
    return Promise.resolve();
  }
  return new Promise((resolvePromise) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolvePromise();
    });
    child.kill('SIGTERM');
  });
}
