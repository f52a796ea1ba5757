// The daemon's schedules (cron package): filter rules' time windows at every minute boundary
// in the configured timezone, GeoIP database updates when a source is configured, and the
// retention of rule counter samples.
import { CronJob } from "cron";
import type { Config } from "../config.ts";
import { refreshTimeWindows } from "../domain/rules/timewindow.ts";
import { updateGeoIp } from "../geoip/update.ts";
import type { Logger } from "../log.ts";
import type { Services } from "../services.ts";

export class Scheduler {
	private jobs: CronJob[] = [];

	constructor(
		private readonly services: Services,
		private readonly log: Logger,
	) {}

	start(config: Config): void {
		this.stop();
		const timeZone = config.filters.timezone;
		// Second 0 of every minute, in the rules' timezone: windows open and close on the minute.
		this.jobs.push(
			CronJob.from({
				cronTime: "0 * * * * *",
				timeZone,
				start: true,
				onTick: () => this.timeWindows(timeZone),
			}),
		);
		if (config.geoip.country_update_url || config.geoip.asn_update_url || config.geoip.maxmind_license_key)
			this.jobs.push(
				CronJob.from({
					cronTime: config.geoip.update_schedule,
					timeZone,
					start: true,
					waitForCompletion: true,
					onTick: () => this.geoipUpdate(),
				}),
			);
		this.jobs.push(
			CronJob.from({
				cronTime: "0 17 * * * *",
				timeZone,
				start: true,
				onTick: () => this.pruneSamples(config.stats.rule_retention_days),
			}),
		);
		// A window that changed while the daemon was down is put right at once.
		this.timeWindows(timeZone);
	}

	stop(): void {
		for (const j of this.jobs) j.stop();
		this.jobs = [];
	}

	private timeWindows(timeZone: string): void {
		try {
			const toggled = refreshTimeWindows(this.services.db, new Date(), timeZone);
			if (toggled) {
				this.log.info("filter rule time windows toggled", { toggled });
				this.services.bus.publish({ type: "rule.scheduled", organizationId: "", resourceId: "time-windows" });
			}
		} catch (err) {
			this.log.error("time window job failed", { error: err });
		}
	}

	private async geoipUpdate(): Promise<void> {
		try {
			const results = await updateGeoIp(this.services);
			for (const r of results) this.log.info("geoip update", { ...r });
		} catch (err) {
			this.log.error("geoip update failed; the current databases stay", { error: err });
		}
	}

	private pruneSamples(days: number): void {
		try {
			const cutoff = new Date(Date.now() - days * 86_400_000).toISOString();
			// Each rule's newest sample stays: it carries the rule's totals since creation.
			const { changes } = this.services.db
				.prepare(
					`DELETE FROM rule_stats_samples WHERE sampled_at < ? AND (rule_id, sampled_at) NOT IN
						(SELECT rule_id, MAX(sampled_at) FROM rule_stats_samples GROUP BY rule_id)`,
				)
				.run(cutoff);
			if (changes) this.log.info("rule counter samples pruned", { removed: changes });
		} catch (err) {
			this.log.error("sample pruning failed", { error: err });
		}
	}
}
