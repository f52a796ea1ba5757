// Building blocks of the admin UI's pages: form fields that show their errors and keep what was
// typed, the error summary, confirmation forms, badges, pagination. Text is escaped (`safe`).
import type { FieldError } from "../src/domain/errors.ts";

/** What a form shows: the values as typed (flat field names) and the errors the domain returned. */
export interface FormState {
	values: Record<string, string>;
	errors: FieldError[];
}

export const emptyForm = (values: Record<string, string> = {}): FormState => ({ values, errors: [] });

export function fieldId(name: string): string {
	return `f-${name.replace(/[^A-Za-z0-9]+/g, "-")}`;
}

/** Errors of a field: its own, and those of its items or members (domains[2] belongs to domains). */
export function errorsOf(form: FormState, name: string): string[] {
	return form.errors
		.filter((e) => e.field === name || e.field.startsWith(`${name}[`) || e.field.startsWith(`${name}.`))
		.map((e) => (e.field === name ? e.message : `${e.field.slice(name.length).replace(/^\./, "")}: ${e.message}`));
}

export function ErrorSummary(props: { form: FormState; message?: string }): string {
	if (!props.form.errors.length && !props.message) return "";
	return (
		<div class="alert" role="alert" id="form-errors" tabindex="-1">
			<strong safe>{props.message ?? "Please correct the following:"}</strong>
			{props.form.errors.length ? (
				<ul>
					{props.form.errors.map((e) => (
						<li>
							<a href={`#${fieldId(fieldOfError(e.field))}`} safe>
								{e.field === "body" ? e.message : `${e.field}: ${e.message}`}
							</a>
						</li>
					))}
				</ul>
			) : (
				""
			)}
		</div>
	) as string;
}

/** origins[0].address → origins[0].address; domains[3] → domains (list fields are one input). */
function fieldOfError(field: string): string {
	return field.replace(/\[\d+\]$/, "");
}

interface FieldProps {
	form: FormState;
	name: string;
	label: string;
	type?: "text" | "email" | "password" | "number" | "search" | "date" | "datetime-local";
	hint?: string;
	/** A sample value, shown as visible help text ("e.g. …") that stays while the user types. */
	example?: string;
	required?: boolean;
	min?: number;
	max?: number;
	autocomplete?: string;
	disabled?: boolean;
}

function Described(props: { id: string; hint?: string; errors: string[] }): string {
	return (
		<>
			{props.hint ? (
				<p class="hint" id={`${props.id}-hint`} safe>
					{props.hint}
				</p>
			) : (
				""
			)}
			{props.errors.map((message) => (
				<p class="field-error" id={`${props.id}-error`} safe>
					{message}
				</p>
			))}
		</>
	) as string;
}

/** The hint line: the hint and, after it, the sample value. */
function hintOf(props: { hint?: string; example?: string }): string | undefined {
	const example = props.example ? `e.g. ${props.example}` : undefined;
	return props.hint && example ? `${props.hint}; ${example}` : (props.hint ?? example);
}

function describedBy(id: string, hint: string | undefined, errors: string[]): string | undefined {
	const ids = [hint ? `${id}-hint` : "", errors.length ? `${id}-error` : ""].filter(Boolean);
	return ids.length ? ids.join(" ") : undefined;
}

export function Field(props: FieldProps): string {
	const id = fieldId(props.name);
	const errors = errorsOf(props.form, props.name);
	return (
		<div class={errors.length ? "field invalid" : "field"}>
			<label for={id} safe>
				{props.label}
			</label>
			<input
				id={id}
				name={props.name}
				type={props.type ?? "text"}
				value={props.form.values[props.name] ?? ""}
				required={props.required}
				min={props.min}
				max={props.max}
				autocomplete={props.autocomplete}
				disabled={props.disabled}
				aria-invalid={errors.length ? "true" : undefined}
				aria-describedby={describedBy(id, hintOf(props), errors)}
			/>
			<Described id={id} hint={hintOf(props)} errors={errors} />
		</div>
	) as string;
}

export function TextArea(props: Omit<FieldProps, "type" | "min" | "max">): string {
	const id = fieldId(props.name);
	const errors = errorsOf(props.form, props.name);
	return (
		<div class={errors.length ? "field invalid" : "field"}>
			<label for={id} safe>
				{props.label}
			</label>
			<textarea
				id={id}
				name={props.name}
				required={props.required}
				aria-invalid={errors.length ? "true" : undefined}
				aria-describedby={describedBy(id, hintOf(props), errors)}
				safe
			>
				{props.form.values[props.name] ?? ""}
			</textarea>
			<Described id={id} hint={hintOf(props)} errors={errors} />
		</div>
	) as string;
}

export function Select(
	props: Omit<FieldProps, "type" | "min" | "max" | "example"> & {
		options: ReadonlyArray<readonly [string, string]>;
		/** The value when the form has none. */
		fallback?: string;
	},
): string {
	const id = fieldId(props.name);
	const errors = errorsOf(props.form, props.name);
	const current = props.form.values[props.name] ?? props.fallback ?? "";
	return (
		<div class={errors.length ? "field invalid" : "field"}>
			<label for={id} safe>
				{props.label}
			</label>
			<select
				id={id}
				name={props.name}
				required={props.required}
				disabled={props.disabled}
				aria-invalid={errors.length ? "true" : undefined}
				aria-describedby={describedBy(id, hintOf(props), errors)}
			>
				{props.options.map(([value, label]) => (
					<option value={value} selected={value === current} safe>
						{label}
					</option>
				))}
			</select>
			<Described id={id} hint={hintOf(props)} errors={errors} />
		</div>
	) as string;
}

/** A boolean: checked sends "true"; the form lists its booleans in _bools so unchecked means false. */
export function Check(props: {
	form: FormState;
	name: string;
	label: string;
	fallback?: boolean;
	hint?: string;
}): string {
	const id = fieldId(props.name);
	const raw = props.form.values[props.name];
	const checked = raw === undefined ? !!props.fallback : raw === "true";
	const errors = errorsOf(props.form, props.name);
	return (
		<div class={errors.length ? "field invalid" : "field"}>
			<label class="check" for={id}>
				<input id={id} type="checkbox" name={props.name} value="true" checked={checked} />
				<span safe>{props.label}</span>
			</label>
			<Described id={id} hint={hintOf(props)} errors={errors} />
		</div>
	) as string;
}

/** A set of values as checkboxes named `name:value`; the form lists the set in _sets. */
export function CheckSet(props: {
	form: FormState;
	name: string;
	legend: string;
	options: ReadonlyArray<readonly [string, string]>;
	hint?: string;
}): string {
	const id = fieldId(props.name);
	const errors = errorsOf(props.form, props.name);
	return (
		<fieldset id={id} class={errors.length ? "field invalid" : "field"}>
			<legend safe>{props.legend}</legend>
			{props.options.map(([value, label]) => (
				<label class="check">
					<input
						type="checkbox"
						name={`${props.name}:${value}`}
						value="true"
						checked={props.form.values[`${props.name}:${value}`] === "true"}
					/>
					<span safe>{label}</span>
				</label>
			))}
			<Described id={id} hint={hintOf(props)} errors={errors} />
		</fieldset>
	) as string;
}

export function Csrf(props: { token: string }): string {
	return (<input type="hidden" name="_csrf" value={props.token} />) as string;
}

/** A one-button POST form for an action on a resource; destructive ones ask first. */
export function ActionForm(props: {
	action: string;
	csrf: string;
	label: string;
	confirm?: string;
	danger?: boolean;
	fields?: Record<string, string>;
	title?: string;
}): string {
	return (
		<form method="post" action={props.action} class="inline" data-confirm={props.confirm}>
			<Csrf token={props.csrf} />
			{Object.entries(props.fields ?? {}).map(([name, value]) => (
				<input type="hidden" name={name} value={value} />
			))}
			<button type="submit" class={props.danger ? "danger small" : "secondary small"} title={props.title} safe>
				{props.label}
			</button>
		</form>
	) as string;
}

export function Badge(props: { kind: string; text: string }): string {
	return (
		<span class={`badge ${props.kind}`} safe>
			{props.text}
		</span>
	) as string;
}

export function Notice(props: { message?: string }): string {
	if (!props.message) return "";
	return (
		<p class="notice" role="status" safe>
			{props.message}
		</p>
	) as string;
}

/** Previous / next links that keep the page's other query parameters. */
export function Pager(props: {
	base: string;
	query: Record<string, string | undefined>;
	pagination: { page: number; pageSize: number; totalCount: number; hasNext: boolean };
}): string {
	const { page, pageSize, totalCount, hasNext } = props.pagination;
	const href = (p: number) => {
		const q = new URLSearchParams();
		for (const [k, v] of Object.entries(props.query)) if (v) q.set(k, v);
		q.set("page", String(p));
		return `${props.base}?${q}`;
	};
	const pages = Math.max(1, Math.ceil(totalCount / pageSize));
	return (
		<nav class="pager" aria-label="Pages">
			{page > 1 ? <a href={href(page - 1)}>Previous</a> : ""}
			<span class="muted small">
				Page {page} of {pages} · {totalCount} total
			</span>
			{hasNext ? <a href={href(page + 1)}>Next</a> : ""}
		</nav>
	) as string;
}

/** A value shown once (API key, client secret, invitation link) with a copy button. */
export function Secret(props: { id: string; label: string; value: string }): string {
	return (
		<div class="notice" role="status">
			<p>
				<strong safe>{props.label}</strong> — shown only now; copy it to a safe place.
			</p>
			<div class="secret">
				<code id={props.id} safe>
					{props.value}
				</code>
				<button type="button" class="secondary small" data-copy={props.id}>
					Copy
				</button>
				<span id={`${props.id}-status`} class="muted small" aria-live="polite" />
			</div>
		</div>
	) as string;
}

export function formatTime(iso: string | null | undefined): string {
	if (!iso) return "—";
	return iso.replace("T", " ").replace(/\.\d+Z$/, "Z");
}

const UNITS = ["", "k", "M", "G", "T"];
/** 1234567 → "1.23M"; bits and bytes use the same decimal prefixes. */
export function formatRate(n: number | null | undefined, unit = ""): string {
	if (n === null || n === undefined) return "—";
	let v = n;
	let i = 0;
	while (Math.abs(v) >= 1000 && i < UNITS.length - 1) {
		v /= 1000;
		i++;
	}
	const text = i === 0 ? String(Math.round(v)) : v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2);
	return `${text}${UNITS[i]}${unit}`;
}

/** The Edit link and Delete button of a list row, for what the viewer may do; an empty cell otherwise. */
export function RowActions(props: {
	can: { write: boolean; delete: boolean };
	editHref: string;
	deleteAction: string;
	csrf: string;
	confirm: string;
}): JSX.Element {
	if (!props.can.write && !props.can.delete) return "";
	return (
		<td data-label="Actions">
			{props.can.write ? (
				<a class="button secondary small" href={props.editHref}>
					Edit
				</a>
			) : (
				""
			)}{" "}
			{props.can.delete ? (
				<ActionForm action={props.deleteAction} csrf={props.csrf} label="Delete" danger confirm={props.confirm} />
			) : (
				""
			)}
		</td>
	);
}

/** An On/Off switch cell that posts to `action` (htmx swaps `target` in place); plain text for readers. */
export function EnabledSwitch(props: {
	canWrite: boolean;
	enabled: boolean;
	action: string;
	target: string;
	csrf: string;
	name: string;
}): JSX.Element {
	return (
		<td data-label="Enabled">
			{props.canWrite ? (
				<form
					method="post"
					action={props.action}
					class="inline"
					hx-post={props.action}
					hx-target={props.target}
					hx-select={props.target}
					hx-swap="outerHTML"
				>
					<Csrf token={props.csrf} />
					<input type="hidden" name="enabled" value={props.enabled ? "false" : "true"} />
					<button
						type="submit"
						class="secondary small"
						role="switch"
						aria-checked={props.enabled ? "true" : "false"}
						aria-label={`${props.name} enabled`}
						safe
					>
						{props.enabled ? "On" : "Off"}
					</button>
				</form>
			) : props.enabled ? (
				"On"
			) : (
				"Off"
			)}
		</td>
	);
}
