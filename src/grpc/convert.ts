// Messages <-> the REST API's JSON, driven by the .proto reflection so the two faces cannot drift:
// snake_case fields become camelCase keys, enum values lose their type prefix (BACKEND_TYPE_TCP is
// "TCP"), Timestamps are ISO 8601 strings, int64 are numbers, Struct is a plain object.
// Wrapper types (google.protobuf.Int32Value, BoolValue, ...) are the REST API's optional scalars:
// present or absent, and 0/false/"" when present (explicit `optional` needs protoc >= 3.15; Debian's
// python3-grpc-tools has 3.5). Requests keep only what the client set, so a domain service sees
// the same partial body as from REST and applies the same defaults and validation.
import * as protobuf from "protobufjs";
import { ValidationError } from "../domain/errors.ts";

type Json = Record<string, unknown>;

const TIMESTAMP = "google.protobuf.Timestamp";
const STRUCT = "google.protobuf.Struct";
const FIELD_MASK = "google.protobuf.FieldMask";
const WRAPPERS = new Set(
	[
		"Int32Value",
		"Int64Value",
		"UInt32Value",
		"UInt64Value",
		"BoolValue",
		"StringValue",
		"DoubleValue",
		"FloatValue",
	].map((n) => `.google.protobuf.${n}`),
);

const camel = (name: string) => protobuf.util.camelCase(name);

const prefixes = new WeakMap<protobuf.Enum, string>();
/** The prefix buf's style puts on every value: the zero value's name without UNSPECIFIED. */
function enumPrefix(e: protobuf.Enum): string {
	let prefix = prefixes.get(e);
	if (prefix === undefined) {
		const zero = Object.entries(e.values).find(([, v]) => v === 0)?.[0] ?? "";
		prefix = zero.endsWith("_UNSPECIFIED") ? zero.slice(0, -"UNSPECIFIED".length) : "";
		prefixes.set(e, prefix);
	}
	return prefix;
}

interface LongLike {
	low: number;
	high: number;
	unsigned: boolean;
	toNumber(): number;
}
const isLong = (v: unknown): v is LongLike =>
	typeof v === "object" && v !== null && "low" in v && "high" in v && "unsigned" in v;
const toNumber = (v: unknown) => (isLong(v) ? v.toNumber() : Number(v));

function isDefault(value: unknown): boolean {
	if (value === undefined || value === null) return true;
	if (isLong(value)) return value.low === 0 && value.high === 0;
	if (value instanceof Uint8Array) return value.length === 0;
	return value === 0 || value === "" || value === false;
}

function timestampToIso(value: Json): string {
	const ms = toNumber(value.seconds ?? 0) * 1000 + Math.floor(toNumber(value.nanos ?? 0) / 1e6);
	const date = new Date(ms);
	if (Number.isNaN(date.getTime())) throw ValidationError.field("timestamp", "invalid_value", "out of range");
	return date.toISOString();
}

function isoToTimestamp(value: unknown): { seconds: number; nanos: number } | undefined {
	const ms = typeof value === "string" ? Date.parse(value) : Number.NaN;
	if (Number.isNaN(ms)) return undefined;
	return { seconds: Math.floor(ms / 1000), nanos: (((ms % 1000) + 1000) % 1000) * 1e6 };
}

function structValue(value: unknown): Json {
	if (value === null || value === undefined) return { null_value: 0 };
	if (typeof value === "number") return { number_value: value };
	if (typeof value === "string") return { string_value: value };
	if (typeof value === "boolean") return { bool_value: value };
	if (Array.isArray(value)) return { list_value: { values: value.map(structValue) } };
	if (typeof value === "object") return { struct_value: toStruct(value as Json) };
	return { string_value: String(value) };
}

function toStruct(value: Json): Json {
	return { fields: Object.fromEntries(Object.entries(value).map(([k, v]) => [k, structValue(v)])) };
}

function fromStructValue(value: Json): unknown {
	if ("struct_value" in value && value.struct_value) return fromStruct(value.struct_value as Json);
	if ("list_value" in value && value.list_value)
		return ((value.list_value as Json).values as Json[] | undefined)?.map(fromStructValue) ?? [];
	for (const k of ["number_value", "string_value", "bool_value"]) if (k in value) return value[k];
	return null;
}

function fromStruct(value: Json): Json {
	const fields = (value.fields ?? {}) as Record<string, Json>;
	return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, fromStructValue(v)]));
}

/** One value of a message field as the REST API writes it. */
function restValue(field: protobuf.Field, value: unknown): unknown {
	const resolved = field.resolvedType;
	if (resolved instanceof protobuf.Enum) {
		const name = resolved.valuesById[value as number];
		if (name === undefined) return String(value);
		return name.slice(enumPrefix(resolved).length);
	}
	if (resolved instanceof protobuf.Type) {
		if (resolved.fullName === `.${TIMESTAMP}`) return timestampToIso(value as Json);
		if (resolved.fullName === `.${STRUCT}`) return fromStruct(value as Json);
		if (WRAPPERS.has(resolved.fullName)) {
			const inner = (value as Json).value;
			if (isLong(inner)) return inner.toNumber();
			return (
				inner ?? (resolved.fullName.endsWith("BoolValue") ? false : resolved.fullName.endsWith("StringValue") ? "" : 0)
			);
		}
		return toRest(resolved, value as protobuf.Message);
	}
	if (field.long || isLong(value)) return toNumber(value);
	if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
	return value;
}

/**
 * A decoded request as the REST body it mirrors: only fields the client set. An update_mask
 * (FieldMask) names top-level fields to take even when unset: a repeated field becomes [], any
 * other becomes null (clearing it where the REST API accepts null).
 */
export function toRest(type: protobuf.Type, message: protobuf.Message | Json): Json {
	const out: Json = {};
	const msg = message as Json;
	let mask: string[] | null = null;
	for (const field of type.fieldsArray) {
		const value = msg[field.name];
		const key = camel(field.name);
		if (field.map) {
			const entries = Object.entries((value ?? {}) as Json);
			if (entries.length) out[key] = Object.fromEntries(entries.map(([k, v]) => [k, restValue(field, v)]));
		} else if (field.repeated) {
			if (Array.isArray(value) && value.length) out[key] = value.map((v) => restValue(field, v));
		} else if (field.resolvedType instanceof protobuf.Type) {
			if (value === undefined || value === null || !Object.hasOwn(msg, field.name)) continue;
			if (field.resolvedType.fullName === `.${FIELD_MASK}`) mask = ((value as Json).paths as string[]) ?? [];
			else out[key] = restValue(field, value);
		} else if (Object.hasOwn(msg, field.name) && !isDefault(value)) {
			out[key] = restValue(field, value);
		}
	}
	if (mask) applyMask(type, mask, out);
	return out;
}

function applyMask(type: protobuf.Type, paths: string[], out: Json): void {
	for (const path of paths) {
		const field = type.fields[path] ?? type.fieldsArray.find((f) => camel(f.name) === path);
		if (!field || field.resolvedType?.fullName === `.${FIELD_MASK}`)
			throw ValidationError.field("update_mask", "invalid_value", `unknown field '${path}'`);
		const key = camel(field.name);
		if (!(key in out)) out[key] = field.repeated || field.map ? (field.map ? {} : []) : null;
	}
}

/** One REST value as the message field's plain-object form (for Type.fromObject). */
function protoValue(field: protobuf.Field, value: unknown): unknown {
	const resolved = field.resolvedType;
	if (resolved instanceof protobuf.Enum) {
		// REST spells some states in lower case ("pending", "ok"); proto enum names are upper case.
		const name = `${enumPrefix(resolved)}${String(value).toUpperCase()}`;
		return name in resolved.values ? name : 0;
	}
	if (resolved instanceof protobuf.Type) {
		if (resolved.fullName === `.${TIMESTAMP}`) return isoToTimestamp(value);
		if (resolved.fullName === `.${STRUCT}`) return toStruct((value ?? {}) as Json);
		if (WRAPPERS.has(resolved.fullName))
			return {
				value: typeof value === "number" && !/Double|Float/.test(resolved.fullName) ? Math.round(value) : value,
			};
		return fromRest(resolved, value as Json);
	}
	if (typeof value === "number" && field.type !== "double" && field.type !== "float") return Math.round(value);
	return value;
}

/** A REST resource (camelCase JSON) as the message's plain object; keys the message lacks are dropped. */
export function fromRest(type: protobuf.Type, json: Json): Json {
	const out: Json = {};
	for (const field of type.fieldsArray) {
		const value = json[camel(field.name)];
		if (value === undefined || value === null) continue;
		if (field.map)
			out[field.name] = Object.fromEntries(Object.entries(value as Json).map(([k, v]) => [k, protoValue(field, v)]));
		else if (field.repeated) out[field.name] = (value as unknown[]).map((v) => protoValue(field, v));
		else {
			const converted = protoValue(field, value);
			if (converted !== undefined) out[field.name] = converted;
		}
	}
	return out;
}

/** Encodes a REST-shaped object as the message. */
export function encodeRest(type: protobuf.Type, json: Json): Uint8Array {
	return type.encode(type.fromObject(fromRest(type, json))).finish();
}
