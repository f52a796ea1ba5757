// /ips: the block list, the allow list and automatic bans — through services.ipLists.
import { Elysia } from "elysia";
import { emptyForm, type FormState } from "../../../views/components.tsx";
import { IpListPage, type ListTab } from "../../../views/pages/ips.tsx";
import { DomainError } from "../../domain/errors.ts";
import type { Services } from "../../services.ts";
import { num, text } from "../forms.ts";
import { fieldErrors, formOf, page, respond, seeOther, type Ui } from "../http.ts";
import { NOTICES } from "./backends.ts";

const HIDE = { detail: { hide: true } };
const TABS: ListTab[] = ["block", "allow", "ban"];

export function ipRoutesUi(services: Services) {
	const listPage = (ui: Ui, forms: { block?: FormState; allow?: FormState } = {}, status = 200, tab?: ListTab) => {
		const q = ui.url.searchParams;
		const list = tab ?? (TABS.find((t) => t === q.get("list")) || "block");
		const search = q.get("search") ?? "";
		const result = services.ipLists.list(ui.actor, list, {
			page: Number(q.get("page") ?? "1") || 1,
			search: search || undefined,
		});
		return respond(ui, {
			title: "IP lists",
			section: "ips",
			status,
			content: IpListPage({
				viewer: ui.viewer,
				list,
				entries: result.data,
				pagination: result.pagination,
				search,
				backends: services.backends.list(ui.actor, { pageSize: 100 }).data,
				blockForm: forms.block ?? emptyForm(),
				allowForm: forms.allow ?? emptyForm(),
				notice: NOTICES[q.get("done") ?? ""],
			}),
		});
	};

	const add = (list: "block" | "allow") =>
		page(services, "ips", (ui, { body }) => {
			const form = formOf(body);
			const duration = num(form.duration);
			try {
				services.ipLists.add(ui.actor, list, {
					ip: (form.ip ?? "").trim(),
					reason: form.reason,
					backendId: text(form.backendId) ?? null,
					durationSeconds:
						list === "block" && duration !== undefined
							? typeof duration === "number"
								? duration * (Number(form.unit) || 1)
								: Number.NaN
							: null,
				});
				return seeOther(`/ips?list=${list}&done=created`);
			} catch (err) {
				if (!(err instanceof DomainError) || err.status === 403) throw err;
				const errors = fieldErrors(err).map((e) => (e.field === "durationSeconds" ? { ...e, field: "duration" } : e));
				return listPage(ui, { [list]: { values: form, errors } }, err.status, list);
			}
		});

	return new Elysia({ name: "ui-ips" })
		.get(
			"/ips",
			page(services, "ips", (ui) => listPage(ui)),
			HIDE,
		)
		.post("/ips/block", add("block"), HIDE)
		.post("/ips/allow", add("allow"), HIDE)
		.post(
			"/ips/remove",
			page(services, "ips", (ui, { body }) => {
				const form = formOf(body);
				const list = TABS.find((t) => t === form.list) ?? "block";
				services.ipLists.remove(ui.actor, list, form.ip ?? "", text(form.backendId) ?? null);
				return seeOther(`/ips?list=${list}&done=removed`);
			}),
			HIDE,
		);
}
