// /settings: organization name, data plane state, GeoIP status and update, level defaults.
import { Elysia } from "elysia";
import { emptyForm, type FormState } from "../../../views/components.tsx";
import { type GeoRow, limitText, SettingsPage } from "../../../views/pages/settings.tsx";
import type { LevelName } from "../../dataplane/abi.ts";
import { LEVEL_DEFAULTS } from "../../dataplane/levels.ts";
import { DomainError, Forbidden } from "../../domain/errors.ts";
import { GEO_KINDS } from "../../geoip/service.ts";
import { type UpdateResult, updateGeoIp, updateSource } from "../../geoip/update.ts";
import type { Services } from "../../services.ts";
import { fieldErrors, formOf, page, respond, seeOther, type Ui } from "../http.ts";
import { NOTICES } from "./backends.ts";

const HIDE = { detail: { hide: true } };

export function settingsRoutesUi(services: Services) {
	const geoRows = (): GeoRow[] =>
		GEO_KINDS.map((kind) => {
			let info = null;
			let error: string | null = null;
			try {
				info = services.geoip.database(kind)?.info ?? null;
			} catch (err) {
				error = (err as Error).message;
			}
			return {
				kind,
				path: services.geoip.path(kind),
				info,
				error,
				updateSource: !!updateSource(services.config, kind),
			};
		});

	const settingsPage = (ui: Ui, extra: { orgForm?: FormState; geoResults?: UpdateResult[]; status?: number } = {}) => {
		const dp = services.config.dataplane;
		return respond(ui, {
			title: "Settings",
			section: "settings",
			status: extra.status,
			content: SettingsPage({
				viewer: ui.viewer,
				orgForm: extra.orgForm ?? emptyForm({ name: services.organizations.current(ui.actor).name }),
				dataplane: services.readiness().dataplane,
				config: {
					enabled: dp.enabled,
					interfaces: dp.interfaces,
					xdpMode: dp.xdp_mode,
					pinPath: dp.pin_path,
					adminNetworks: dp.admin_networks,
					managementPorts: dp.management_ports,
				},
				geo: geoRows(),
				geoResults: extra.geoResults,
				schedule: services.config.geoip.update_schedule,
				levels: (Object.keys(LEVEL_DEFAULTS) as LevelName[]).map((level) => {
					const d = LEVEL_DEFAULTS[level];
					return {
						level,
						summary: d.summary,
						srcPkt: limitText(d.srcPkt),
						srcByte: limitText(d.srcByte, "B"),
						globPkt: limitText(d.globPkt),
						globByte: limitText(d.globByte, "B"),
					};
				}),
				notice: NOTICES[ui.url.searchParams.get("done") ?? ""],
			}),
		});
	};

	return new Elysia({ name: "ui-settings" })
		.get(
			"/settings",
			page(services, "settings", (ui) => settingsPage(ui)),
			HIDE,
		)
		.post(
			"/settings/organization",
			page(services, "settings", (ui, { body }) => {
				const form = formOf(body);
				try {
					services.organizations.update(ui.actor, ui.actor.organizationId, { name: (form.name ?? "").trim() });
					return seeOther("/settings?done=saved");
				} catch (err) {
					if (!(err instanceof DomainError) || err.status === 403) throw err;
					return settingsPage(ui, { orgForm: { values: form, errors: fieldErrors(err) }, status: err.status });
				}
			}),
			HIDE,
		)
		.post(
			"/settings/geoip/update",
			page(services, "settings", async (ui) => {
				if (!ui.actor.permissions.includes("admin")) throw new Forbidden("requires the 'admin' permission");
				return settingsPage(ui, { geoResults: await updateGeoIp(services, fetch, ui.actor) });
			}),
			HIDE,
		);
}
