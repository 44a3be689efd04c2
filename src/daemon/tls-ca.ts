/**
 * The per-user certificate authority the daemon holds for the `tls` transport: pure functions over
 * one directory (the daemon passes its own, under the user's 0700 state dir). Every file written is
 * 0600 and the directory 0700. Both ends of a tls path present a leaf certificate signed by the
 * CA and trust only the CA bundle, so a peer is verified in both directions.
 *
 *   ca.key, ca.crt          the current CA (RSA 2048, self-signed, 10 years by default)
 *   ca-bundle.crt           certificates peers trust: the current CA, then the previous one
 *   leaf-<name>.key/.crt    leaves (serverAuth + clientAuth, names: localhost, 127.0.0.1, ::1, extra)
 *
 * rotateCa() makes a new CA, keeps the previous one in the bundle (so ends still holding old
 * leaves keep verifying until they reload) and re-issues every leaf under the new CA.
 * X.509 encoding is node-forge's; keys come from node:crypto.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import forge from "node-forge";
import { FableError } from "../errors.js";

/** A name or directory given to the CA functions was unusable. */
export class CaError extends FableError {
  constructor(message: string, options?: ErrorOptions) {
    super("ECA", message, options);
  }
}

export interface LeafCredentials {
  readonly key: string;
  readonly cert: string;
  /** The CA bundle (PEM) a peer's certificate must chain to. */
  readonly ca: string;
}

export interface CaOptions {
  /** Validity of a new CA (default 3650 days). */
  readonly caDays?: number;
  /** Validity of a new leaf (default 365 days). */
  readonly leafDays?: number;
  /** Extra DNS names or IP addresses for leaves. */
  readonly names?: readonly string[];
}

const LEAF_NAME = /^[a-z0-9][a-z0-9_.-]{0,63}$/;

function write(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600); // the file may have existed with another mode
}

function keyPair(): { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey; pem: string } {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const pem = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
  const key = forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey;
  return { privateKey: key, publicKey: forge.pki.setRsaPublicKey(key.n, key.e), pem };
}

function certificate(
  publicKey: forge.pki.PublicKey,
  subject: string,
  days: number,
  extensions: object[],
  issuer: { cert?: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey },
): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = `01${randomBytes(15).toString("hex")}`; // positive, 16 bytes
  const now = new Date();
  cert.validity.notBefore = new Date(now.getTime() - 60_000);
  cert.validity.notAfter = new Date(now.getTime() + days * 86_400_000);
  const attrs = [{ name: "commonName", value: subject }];
  cert.setSubject(attrs);
  cert.setIssuer(issuer.cert?.subject.attributes ?? attrs);
  cert.setExtensions(extensions);
  cert.sign(issuer.key, forge.md.sha256.create());
  return cert;
}

function checkDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/** Makes the CA in `dir` if there is none; returns its certificate (PEM). */
export function ensureCa(dir: string, options: CaOptions = {}): string {
  checkDir(dir);
  const certPath = join(dir, "ca.crt");
  if (existsSync(certPath) && existsSync(join(dir, "ca.key"))) return readFileSync(certPath, "utf8");
  const { privateKey, publicKey, pem } = keyPair();
  const cert = certificate(
    publicKey,
    `fable user CA ${randomBytes(4).toString("hex")}`,
    options.caDays ?? 3650,
    [
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
      { name: "subjectKeyIdentifier" },
    ],
    { key: privateKey },
  );
  const certPem = forge.pki.certificateToPem(cert);
  write(join(dir, "ca.key"), pem);
  write(certPath, certPem);
  writeBundle(dir);
  return certPem;
}

function writeBundle(dir: string): void {
  const parts = [readFileSync(join(dir, "ca.crt"), "utf8")];
  const previous = join(dir, "ca-previous.crt");
  if (existsSync(previous)) parts.push(readFileSync(previous, "utf8"));
  write(join(dir, "ca-bundle.crt"), parts.join(""));
}

function checkName(name: string): void {
  if (!LEAF_NAME.test(name)) {
    throw new CaError(`leaf name ${JSON.stringify(name)} must match ${LEAF_NAME} (it names files in the CA directory)`);
  }
}

/** Issues (or re-issues) the leaf `name` under the current CA and returns its credentials. */
export function issueLeaf(dir: string, name: string, options: CaOptions = {}): LeafCredentials {
  checkName(name);
  ensureCa(dir, options);
  const caKey = forge.pki.privateKeyFromPem(readFileSync(join(dir, "ca.key"), "utf8")) as forge.pki.rsa.PrivateKey;
  const caCert = forge.pki.certificateFromPem(readFileSync(join(dir, "ca.crt"), "utf8"));
  const { publicKey, pem } = keyPair();
  const altNames = ["localhost", "127.0.0.1", "::1", ...(options.names ?? [])].map((n) =>
    /^[0-9.]+$|:/.test(n) ? { type: 7, ip: n } : { type: 2, value: n },
  );
  const cert = certificate(
    publicKey,
    `fable ${name}`,
    options.leafDays ?? 365,
    [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
      { name: "extKeyUsage", serverAuth: true, clientAuth: true },
      { name: "subjectAltName", altNames },
    ],
    { cert: caCert, key: caKey },
  );
  write(join(dir, `leaf-${name}.key`), pem);
  write(join(dir, `leaf-${name}.crt`), forge.pki.certificateToPem(cert));
  return loadLeaf(dir, name);
}

/** The stored credentials of leaf `name`. */
export function loadLeaf(dir: string, name: string): LeafCredentials {
  checkName(name);
  try {
    return {
      key: readFileSync(join(dir, `leaf-${name}.key`), "utf8"),
      cert: readFileSync(join(dir, `leaf-${name}.crt`), "utf8"),
      ca: readFileSync(join(dir, "ca-bundle.crt"), "utf8"),
    };
  } catch (err) {
    throw new CaError(`no leaf ${name} in ${dir}: issue it first`, { cause: err });
  }
}

/** Leaves stored in `dir`. */
export function leaves(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.startsWith("leaf-") && f.endsWith(".crt"))
    .map((f) => f.slice(5, -4))
    .sort();
}

/** A new CA; the previous one stays trusted in the bundle; every leaf is re-issued under the new one. */
export function rotateCa(dir: string, options: CaOptions = {}): string {
  ensureCa(dir, options);
  renameSync(join(dir, "ca.crt"), join(dir, "ca-previous.crt"));
  rmSync(join(dir, "ca.key"));
  const cert = ensureCa(dir, options);
  for (const name of leaves(dir)) issueLeaf(dir, name, options);
  return cert;
}
