// A throwaway redis-server (Debian's package) on a free loopback port, for the queue tests. It keeps its
// data in an append-only file in its own temporary folder, so a restart on the same port keeps the jobs,
// and it dies with the test process.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestRedis {
  url: string;
  port: number;
  /** Stops the server (SIGTERM: it flushes its append-only file first). */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same data. */
  start(): Promise<void>;
  /** Stops it and deletes its data. */
  dispose(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A self-signed certificate for 127.0.0.1 (openssl), for a TLS server. */
export function selfSignedCertificate(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { cert, key };
}

export interface ClientCertificates {
  /** PEM files: the CA that signed the server's and the client's certificates, a client certificate and its key. */
  caFile: string;
  certFile: string;
  keyFile: string;
  /** A client certificate and key signed by another CA, which the server must refuse. */
  rogueCertFile: string;
  rogueKeyFile: string;
}

function signedBy(dir: string, name: string, subject: string, ca: { cert: string; key: string }, san?: string): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.pem`);
  execFileSync('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', subject, '-keyout', key, '-out', csr], { stdio: 'ignore' });
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, san ? `subjectAltName=${san}\n` : 'extendedKeyUsage=clientAuth\n');
  execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '1', '-extfile', ext, '-out', cert], { stdio: 'ignore' });
  return { cert, key };
}

function certificateAuthority(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${name}`, '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { cert, key };
}

/**
 * Starts Debian's redis-server on a free loopback port. `tls: true`: a self-signed server certificate;
 * `tls: 'client-certificates'`: a private CA signs the server's certificate and a client's, and Redis
 * refuses clients without one (--tls-auth-clients yes).
 */
export async function startRedis(options: { password?: string; tls?: boolean | 'client-certificates' } = {}): Promise<TestRedis & { ca?: string; clientCertificates?: ClientCertificates }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tlkit-redis-'));
  let child: ChildProcess | undefined;
  let tls: { cert: string; key: string } | undefined;
  let clientCertificates: ClientCertificates | undefined;
  let caFile: string | undefined;
  if (options.tls === 'client-certificates') {
    const ca = certificateAuthority(dir, 'tlkit-test-ca');
    const rogueCa = certificateAuthority(dir, 'rogue-ca');
    tls = signedBy(dir, 'server', '/CN=127.0.0.1', ca, 'IP:127.0.0.1');
    const client = signedBy(dir, 'client', '/CN=tlkit-worker', ca);
    const rogue = signedBy(dir, 'rogue', '/CN=intruder', rogueCa);
    caFile = ca.cert;
    clientCertificates = { caFile: ca.cert, certFile: client.cert, keyFile: client.key, rogueCertFile: rogue.cert, rogueKeyFile: rogue.key };
  } else if (options.tls) {
    tls = selfSignedCertificate(dir);
    caFile = tls.cert;
  }
  const start = () =>
    new Promise<void>((resolve, reject) => {
      const listen = tls ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.cert, '--tls-key-file', tls.key, ...(clientCertificates ? ['--tls-auth-clients', 'yes', '--tls-ca-cert-file', clientCertificates.caFile] : ['--tls-auth-clients', 'no'])] : ['--port', String(port)];
      const args = [...listen, '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--protected-mode', 'yes'];
      if (options.password) args.push('--requirepass', options.password);
      const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      child = proc;
      let out = '';
      const timer = setTimeout(() => reject(new Error(`redis-server did not start within 10 s: ${out}`)), 10_000);
      proc.on('error', (e) => reject(new Error(`cannot start redis-server (apt-get install redis-server): ${e.message}`)));
      proc.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (/Ready to accept connections/.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  const stop = () =>
    new Promise<void>((resolve) => {
      const proc = child;
      child = undefined;
      if (!proc || proc.exitCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
    });
  // Never outlive the test process.
  process.once('exit', () => child?.kill('SIGKILL'));
  await start();
  const auth = options.password ? `:${encodeURIComponent(options.password)}@` : '';
  return {
    url: `${tls ? 'rediss' : 'redis'}://${auth}127.0.0.1:${port}`,
    ...(caFile ? { ca: readFileSync(caFile, 'utf8') } : {}),
    ...(clientCertificates ? { clientCertificates } : {}),
    port,
    stop,
    start,
    async dispose() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
