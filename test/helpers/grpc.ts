// A real grpc-js client for the appliance's gRPC API, built from the .proto files on disk the
// way a third-party client would (proto-loader, camelCase fields, enum names as strings).
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import * as protobuf from "protobufjs";
import { ROOT } from "./daemon.ts";

export const PROTO_DIR = join(ROOT, "proto");
export const API_FILES = ["alert", "backend", "common", "filter", "ip", "metrics", "organization", "webhook"].map(
	(f) => `pistonprotection/v1/${f}.proto`,
);

const definition = protoLoader.loadSync(API_FILES, {
	includeDirs: [PROTO_DIR],
	longs: Number,
	enums: String,
	defaults: true,
	oneofs: true,
});
const pkg = grpc.loadPackageDefinition(definition) as unknown as {
	pistonprotection: { v1: Record<string, grpc.ServiceClientConstructor> };
};

export type ServiceName =
	| "BackendService"
	| "FilterService"
	| "IpService"
	| "OrganizationService"
	| "MetricsService"
	| "AlertService"
	| "WebhookService";

// biome-ignore lint/suspicious/noExplicitAny: responses are dynamic messages
export type Msg = Record<string, any>;

export interface CallError extends Error {
	code: grpc.status;
	details: string;
	metadata: grpc.Metadata;
}

export function metadataFor(credential?: string): grpc.Metadata {
	const md = new grpc.Metadata();
	if (credential) md.set("authorization", `Bearer ${credential}`);
	return md;
}

export function client(
	service: ServiceName,
	port: number,
	credentials = grpc.credentials.createInsecure(),
	host = "127.0.0.1",
) {
	const Ctor = pkg.pistonprotection.v1[service];
	if (!Ctor) throw new Error(`no service ${service}`);
	return new Ctor(`${host}:${port}`, credentials) as grpc.Client;
}

/** Calls a unary RPC; resolves with the response, rejects with the status error. */
export function unary(
	c: grpc.Client,
	method: string,
	request: Msg,
	credential?: string,
	options: grpc.CallOptions = {},
): Promise<Msg> {
	const fn = (c as unknown as Record<string, (...args: unknown[]) => unknown>)[method];
	if (!fn) throw new Error(`no method ${method}`);
	return new Promise((resolve, reject) => {
		fn.call(c, request, metadataFor(credential), options, (err: CallError | null, res: Msg) =>
			err ? reject(err) : resolve(res),
		);
	});
}

/** The status error of a call that must fail. */
export async function failure(promise: Promise<unknown>): Promise<CallError> {
	try {
		await promise;
	} catch (err) {
		return err as CallError;
	}
	throw new Error("the call succeeded");
}

/** Opens a server stream and collects its messages; next() waits for the following one. */
export function watch(
	c: grpc.Client,
	method: string,
	request: Msg,
	credential?: string,
	options: grpc.CallOptions = {},
) {
	const fn = (c as unknown as Record<string, (...args: unknown[]) => unknown>)[method];
	if (!fn) throw new Error(`no method ${method}`);
	const call = fn.call(c, request, metadataFor(credential), options) as grpc.ClientReadableStream<Msg>;
	const messages: Msg[] = [];
	const waiters: Array<() => void> = [];
	let ended: CallError | null = null;
	let done = false;
	call.on("data", (m: Msg) => {
		messages.push(m);
		for (const w of waiters.splice(0)) w();
	});
	call.on("error", (e: CallError) => {
		ended = e;
		for (const w of waiters.splice(0)) w();
	});
	call.on("end", () => {
		done = true;
		for (const w of waiters.splice(0)) w();
	});
	let read = 0;
	return {
		call,
		messages,
		/** The next message not yet returned; rejects when the stream ends first or after timeoutMs. */
		async next(timeoutMs = 5000): Promise<Msg> {
			const deadline = Date.now() + timeoutMs;
			while (read >= messages.length) {
				if (ended) throw ended;
				if (done) throw new Error("stream ended");
				if (Date.now() > deadline) throw new Error("no message in time");
				await new Promise<void>((r) => {
					waiters.push(r);
					setTimeout(r, 50);
				});
			}
			return messages[read++] as Msg;
		},
		/** The status the stream ended with (waits for it). */
		async status(timeoutMs = 5000): Promise<CallError | "ok"> {
			const deadline = Date.now() + timeoutMs;
			while (!ended && !done) {
				if (Date.now() > deadline) throw new Error("stream still open");
				await Bun.sleep(20);
			}
			return ended ?? "ok";
		},
	};
}

/** google.rpc.BadRequest field violations from a status's details trailer. */
export function fieldViolations(err: CallError): Array<{ field: string; description: string; reason: string }> {
	const bin = err.metadata?.get("grpc-status-details-bin")[0];
	if (!bin) return [];
	const root = new protobuf.Root();
	root.resolvePath = (_origin, target) => join(PROTO_DIR, target);
	root.loadSync(["google/rpc/status.proto", "google/rpc/error_details.proto"], { keepCase: true });
	const status = root.lookupType("google.rpc.Status").decode(bin as Buffer) as unknown as {
		details: Array<{ type_url: string; value: Uint8Array }>;
	};
	const BadRequest = root.lookupType("google.rpc.BadRequest");
	return status.details
		.filter((d) => d.type_url.endsWith("google.rpc.BadRequest"))
		.flatMap(
			(d) =>
				(BadRequest.toObject(BadRequest.decode(d.value)) as { field_violations: Array<Record<string, string>> })
					.field_violations as Array<{ field: string; description: string; reason: string }>,
		);
}
