// Domain errors as gRPC statuses: the one place they are mapped for this face. Field errors
// travel as google.rpc.BadRequest field violations (reason = the spec's error code), conflicts
// carry google.rpc.ErrorInfo, rate limits google.rpc.RetryInfo, all inside the google.rpc.Status
// of the `grpc-status-details-bin` trailer (the standard richer error model).
import { Metadata, type StatusObject, status } from "@grpc/grpc-js";
import { DomainError, ValidationError } from "../domain/errors.ts";
import type { Logger } from "../log.ts";
import { apiRoot } from "./protos.ts";

const STATUS_BY_HTTP: Record<number, status> = {
	400: status.INVALID_ARGUMENT,
	401: status.UNAUTHENTICATED,
	403: status.PERMISSION_DENIED,
	404: status.NOT_FOUND,
	409: status.ALREADY_EXISTS,
	412: status.FAILED_PRECONDITION,
	429: status.RESOURCE_EXHAUSTED,
	501: status.UNIMPLEMENTED,
	503: status.UNAVAILABLE,
};

const ERROR_DOMAIN = "pistonprotection.io";
const StatusType = apiRoot.lookupType("google.rpc.Status");
const BadRequest = apiRoot.lookupType("google.rpc.BadRequest");
const ErrorInfo = apiRoot.lookupType("google.rpc.ErrorInfo");
const RetryInfo = apiRoot.lookupType("google.rpc.RetryInfo");

function any(type: typeof StatusType, value: Record<string, unknown>) {
	return {
		type_url: `type.googleapis.com/${type.fullName.slice(1)}`,
		value: type.encode(type.fromObject(value)).finish(),
	};
}

/** A status with details: google.rpc.Status in the trailer, code and message as usual. */
export function richStatus(
	code: status,
	message: string,
	details: Array<ReturnType<typeof any>> = [],
): Partial<StatusObject> {
	const metadata = new Metadata();
	if (details.length) {
		const encoded = StatusType.encode(StatusType.fromObject({ code, message, details })).finish();
		metadata.set("grpc-status-details-bin", Buffer.from(encoded));
	}
	return { code, details: message, metadata };
}

/** Maps anything a handler threw; unknown errors become INTERNAL without details (and are logged). */
export function toStatus(error: unknown, log: Logger, path: string): Partial<StatusObject> {
	if (error instanceof ValidationError)
		return richStatus(status.INVALID_ARGUMENT, error.message, [
			any(BadRequest, {
				field_violations: error.errors.map((e) => ({ field: e.field, description: e.message, reason: e.code })),
			}),
		]);
	if (error instanceof DomainError) {
		const code = STATUS_BY_HTTP[error.status] ?? (error.status >= 500 ? status.INTERNAL : status.FAILED_PRECONDITION);
		const details = [];
		const reason = "reason" in error && typeof error.reason === "string" ? error.reason : null;
		if (reason) details.push(any(ErrorInfo, { reason, domain: ERROR_DOMAIN }));
		if ("retryAfter" in error && typeof error.retryAfter === "number") {
			details.push(any(RetryInfo, { retry_delay: { seconds: error.retryAfter, nanos: 0 } }));
			const s = richStatus(code, error.message, details);
			s.metadata?.set("retry-after", String(error.retryAfter));
			return s;
		}
		return richStatus(code, error.message, details);
	}
	log.error("gRPC call failed", { path, error });
	return { code: status.INTERNAL, details: "an internal error occurred" };
}
