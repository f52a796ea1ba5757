// The errors domain services throw. Each face maps them once: REST to problem+json,
// gRPC to status codes, the UI to an error fragment, the CLI to a message and exit code.

export interface FieldError {
	field: string;
	code: string;
	message: string;
}

/** `type` is the spec's error type (validation, not-found, conflict …). */
export class DomainError extends Error {
	constructor(
		readonly status: number,
		readonly type: string,
		message: string,
	) {
		super(message);
		this.name = new.target.name;
	}
}

export class ValidationError extends DomainError {
	constructor(readonly errors: FieldError[]) {
		super(400, "validation", errors.map((e) => `${e.field}: ${e.message}`).join("; "));
	}

	static field(field: string, code: string, message: string): ValidationError {
		return new ValidationError([{ field, code, message }]);
	}
}

export class Unauthorized extends DomainError {
	constructor(message = "authentication required") {
		super(401, "authentication", message);
	}
}

export class Forbidden extends DomainError {
	constructor(message = "not permitted") {
		super(403, "authorization", message);
	}
}

export class NotFound extends DomainError {
	constructor(resource: string, id: string) {
		super(404, "not-found", `${resource} ${id} not found`);
	}
}

/** A conflict carries the spec's error code (duplicate_name, port_in_use …) for the client. */
export class Conflict extends DomainError {
	constructor(
		readonly reason: string,
		message: string,
	) {
		super(409, "conflict", message);
	}
}

export class Unavailable extends DomainError {
	constructor(message: string) {
		super(503, "unavailable", message);
	}
}
