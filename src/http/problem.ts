// RFC 7807 problem+json: the one place domain errors become HTTP responses.
import { DomainError, type FieldError, ValidationError } from "../domain/errors.ts";

export const PROBLEM_BASE = "https://api.pistonprotection.io/errors/";

const TITLES: Record<string, string> = {
	validation: "Validation Error",
	authentication: "Authentication Required",
	authorization: "Forbidden",
	"not-found": "Not Found",
	conflict: "Conflict",
	"rate-limited": "Rate Limited",
	internal: "Internal Server Error",
	unavailable: "Service Unavailable",
};

export interface Problem {
	type: string;
	title: string;
	status: number;
	detail: string;
	instance: string;
	errors?: FieldError[];
	code?: string;
	[extra: string]: unknown;
}

export function problem(type: string, status: number, detail: string, instance: string, extra: object = {}): Problem {
	return {
		type: PROBLEM_BASE + type,
		title: TITLES[type] ?? type,
		status,
		detail,
		instance,
		...extra,
	};
}

export function problemResponse(p: Problem, headers: Record<string, string> = {}): Response {
	return new Response(JSON.stringify(p), {
		status: p.status,
		headers: { "content-type": "application/problem+json", ...headers },
	});
}

/** Maps anything thrown by a handler to a problem; unknown errors become 500 without details. */
export function toProblem(error: unknown, instance: string): Problem {
	if (error instanceof ValidationError)
		return problem("validation", 400, error.message, instance, {
			errors: error.errors,
		});
	if (error instanceof DomainError) {
		const extra: Record<string, unknown> = {};
		if ("reason" in error) extra.code = error.reason;
		if ("retryAfter" in error) extra.retryAfter = error.retryAfter;
		// OAuth clients read RFC 6749's `error`/`error_description` from the same body.
		if ("error" in error && typeof error.error === "string") {
			extra.error = error.error;
			extra.error_description = error.message;
		}
		return problem(error.type, error.status, error.message, instance, extra);
	}
	return problem("internal", 500, "an internal error occurred", instance);
}
