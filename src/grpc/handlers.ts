// What every gRPC call goes through: the request as its REST body (convert.ts), authentication
// from `authorization: Bearer <api key or token>` metadata with the same credentials, rate limits
// and tiers as REST, the per-organization limit on concurrent streams, and one error mapping.
// Service files only list their methods: (actor, request) => response, both REST-shaped.
import {
	type handleServerStreamingCall,
	type handleUnaryCall,
	type Metadata,
	type ServerUnaryCall,
	type ServerWritableStream,
	type ServiceDefinition,
	status,
	type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import * as protobuf from "protobufjs";
import { bearerActor, rateDecision } from "../auth/admission.ts";
import { TooManyRequests } from "../auth/ratelimit.ts";
import type { Actor } from "../domain/actor.ts";
import { type FieldError, Unauthorized, ValidationError } from "../domain/errors.ts";
import type { Logger } from "../log.ts";
import type { Services } from "../services.ts";
import { encodeRest, toRest } from "./convert.ts";
import { toStatus } from "./errors.ts";
import { apiRoot } from "./protos.ts";
import type { StreamLimiter } from "./streams.ts";

export type Json = Record<string, unknown>;

export interface GrpcDeps {
	services: Services;
	log: Logger;
	streams: StreamLimiter;
}

export type Unary = (actor: Actor, request: Json) => Json | Promise<Json>;

export interface StreamContext {
	actor: Actor;
	request: Json;
	/** Sends one message; ignored once the call has ended. */
	send(message: Json): void;
	/** Ends the call with the error's status. */
	fail(error: unknown): void;
	/** Runs when the call ends for any reason: completion, cancellation, deadline, error. */
	onClose(fn: () => void): void;
}

export interface Streaming {
	stream: (ctx: StreamContext) => void;
}

export type Handlers = Record<string, Unary | Streaming>;

/** Ids taken from the request; an empty one is a field error like REST's missing path segment. */
export function ids<K extends string>(request: Json, ...keys: K[]): Record<K, string> {
	const errors: FieldError[] = [];
	const out = {} as Record<K, string>;
	for (const key of keys) {
		const value = request[key];
		if (typeof value !== "string" || value === "") errors.push({ field: key, code: "required", message: "required" });
		else out[key] = value;
	}
	if (errors.length) throw new ValidationError(errors);
	return out;
}

/** page and pageSize as REST accepts them: page >= 1 (default 1), pageSize 1..100 (default 20). */
export function pageOf(request: Json): { page: number; pageSize: number } {
	const page = (request.page as number | undefined) ?? 1;
	const pageSize = (request.pageSize as number | undefined) ?? 20;
	const errors: FieldError[] = [];
	if (!(page >= 1 && page <= 1_000_000))
		errors.push({ field: "page", code: "invalid_value", message: "must be an integer from 1 to 1000000" });
	if (!(pageSize >= 1 && pageSize <= 100))
		errors.push({ field: "pageSize", code: "invalid_value", message: "must be an integer from 1 to 100" });
	if (errors.length) throw new ValidationError(errors);
	return { page, pageSize };
}

/** Runs fn with field errors placed under `prefix` (a request field holding the REST body). */
export function within<T>(prefix: string, fn: () => T): T {
	try {
		return fn();
	} catch (err) {
		if (err instanceof ValidationError)
			throw new ValidationError(
				err.errors.map((e) => ({ ...e, field: e.field === "body" ? prefix : `${prefix}.${e.field}` })),
			);
		throw err;
	}
}

/** Field paths as the .proto spells them (origins[0].connect_timeout_ms), for BadRequest. */
function protoPaths(error: unknown): unknown {
	if (!(error instanceof ValidationError)) return error;
	const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
	return new ValidationError(error.errors.map((e) => ({ ...e, field: snake(e.field) })));
}

function peerAddress(peer: string): string | null {
	const m = /^(?:ipv[46]:)?\[?([^\]]+?)\]?:\d+$/.exec(peer);
	return m?.[1] ?? null;
}

async function authenticate(deps: GrpcDeps, metadata: Metadata, peer: string): Promise<Actor> {
	const userAgent = metadata.get("user-agent")[0];
	const ctx = { ipAddress: peerAddress(peer), userAgent: typeof userAgent === "string" ? userAgent : null };
	const header = metadata.get("authorization")[0];
	const presented = await bearerActor(deps.services, typeof header === "string" ? header : null, ctx);
	const actor = presented?.actor ?? null;
	const decision = rateDecision(deps.services, actor, ctx);
	if (!decision.allowed) throw new TooManyRequests(decision.retryAfter);
	if (presented && !actor) throw new Unauthorized("invalid, expired or revoked credential");
	if (!actor) throw new Unauthorized("missing credentials: send 'authorization: Bearer <api key or token>' metadata");
	return actor;
}

function unary(deps: GrpcDeps, path: string, type: protobuf.Type, handler: Unary): handleUnaryCall<unknown, Json> {
	return async (call: ServerUnaryCall<unknown, Json>, callback) => {
		try {
			const actor = await authenticate(deps, call.metadata, call.getPeer());
			callback(null, await handler(actor, toRest(type, call.request as protobuf.Message)));
		} catch (err) {
			callback(toStatus(protoPaths(err), deps.log, path));
		}
	};
}

function streaming(
	deps: GrpcDeps,
	path: string,
	type: protobuf.Type,
	handler: Streaming,
): handleServerStreamingCall<unknown, Json> {
	return async (call: ServerWritableStream<unknown, Json>) => {
		const cleanups: Array<() => void> = [];
		let closed = false;
		const close = () => {
			if (closed) return;
			closed = true;
			for (const fn of cleanups.splice(0)) fn();
		};
		const fail = (err: unknown) => {
			if (closed) return;
			const s = toStatus(protoPaths(err), deps.log, path);
			close();
			call.emit("error", s);
		};
		call.on("cancelled", close);
		call.on("close", close);
		try {
			const actor = await authenticate(deps, call.metadata, call.getPeer());
			cleanups.push(deps.streams.acquire(actor.organizationId, deps.services.organizations.tier(actor.organizationId)));
			if (call.cancelled || call.destroyed) return close();
			const deadline = call.getDeadline();
			const ms = deadline instanceof Date ? deadline.getTime() - Date.now() : Number(deadline) - Date.now();
			if (Number.isFinite(ms)) {
				const timer = setTimeout(
					() => {
						if (closed) return;
						close();
						call.emit("error", { code: status.DEADLINE_EXCEEDED, details: "deadline exceeded" });
					},
					Math.max(0, ms),
				);
				cleanups.push(() => clearTimeout(timer));
			}
			handler.stream({
				actor,
				request: toRest(type, call.request as protobuf.Message),
				send: (message) => {
					if (!closed) call.write(message);
				},
				fail,
				onClose: (fn) => {
					if (closed) fn();
					else cleanups.push(fn);
				},
			});
		} catch (err) {
			fail(err);
		}
	};
}

/** The grpc-js definition and implementation of one pistonprotection.v1 service; every RPC needs a handler. */
export function defineService(
	deps: GrpcDeps,
	name: string,
	handlers: Handlers,
): { definition: ServiceDefinition; implementation: UntypedServiceImplementation } {
	const service = apiRoot.lookupService(`pistonprotection.v1.${name}`);
	const definition: Record<string, ServiceDefinition[string]> = {};
	const implementation: UntypedServiceImplementation = {};
	const unknown = Object.keys(handlers).filter((k) => !service.methods[k]);
	if (unknown.length) throw new Error(`${name} has no RPC ${unknown.join(", ")}`);
	for (const method of service.methodsArray) {
		const handler = handlers[method.name];
		if (!handler) throw new Error(`${name}.${method.name} has no handler`);
		const request = method.resolvedRequestType as protobuf.Type;
		const response = method.resolvedResponseType as protobuf.Type;
		const path = `/${service.fullName.slice(1)}/${method.name}`;
		const streams = !!method.responseStream;
		if (streams !== "stream" in handler) throw new Error(`${name}.${method.name}: handler kind does not match the RPC`);
		definition[method.name] = {
			path,
			requestStream: false,
			responseStream: streams,
			requestSerialize: (value: Json) => Buffer.from(encodeRest(request, value)),
			requestDeserialize: (bytes: Buffer) => request.decode(bytes),
			responseSerialize: (value: Json) => Buffer.from(encodeRest(response, value)),
			responseDeserialize: (bytes: Buffer) => toRest(response, response.decode(bytes)),
			originalName: protobuf.util.camelCase(method.name),
		};
		implementation[method.name] =
			"stream" in handler ? streaming(deps, path, request, handler) : unary(deps, path, request, handler);
	}
	return { definition: definition as ServiceDefinition, implementation };
}
