// The HTTPS listener's certificate: the configured one, or a self-signed one generated once
// at first start into the data directory (key 0600) and reused afterwards.
import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import type { Config } from "./config.ts";

export class TlsError extends Error {}

export function ensureCertificate(config: Config): {
	certPath: string;
	keyPath: string;
	generated: boolean;
} {
	if (config.server.tls_cert) {
		for (const p of [config.server.tls_cert, config.server.tls_key]) {
			if (!existsSync(p)) throw new TlsError(`TLS file ${p} does not exist`);
		}
		return {
			certPath: config.server.tls_cert,
			keyPath: config.server.tls_key,
			generated: false,
		};
	}
	const certPath = join(config.storage.data_dir, "tls", "selfsigned.crt");
	const keyPath = join(config.storage.data_dir, "tls", "selfsigned.key");
	if (existsSync(certPath) && existsSync(keyPath)) return { certPath, keyPath, generated: false };

	mkdirSync(join(config.storage.data_dir, "tls"), {
		recursive: true,
		mode: 0o700,
	});
	const host = hostname();
	const proc = Bun.spawnSync(
		[
			"openssl",
			"req",
			"-x509",
			"-newkey",
			"ec",
			"-pkeyopt",
			"ec_paramgen_curve:prime256v1",
			"-nodes",
			"-days",
			"825",
			"-subj",
			`/CN=${host}/O=PistonProtection self-signed`,
			"-addext",
			`subjectAltName=DNS:${host},DNS:localhost,IP:127.0.0.1,IP:::1`,
			"-keyout",
			keyPath,
			"-out",
			certPath,
		],
		{ stdout: "pipe", stderr: "pipe" },
	);
	if (proc.exitCode !== 0)
		throw new TlsError(`openssl could not create a certificate: ${proc.stderr.toString().trim()}`);
	chmodSync(keyPath, 0o600);
	return { certPath, keyPath, generated: true };
}
