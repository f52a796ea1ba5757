// Revision counters of the data-plane sections. Bumped inside the writer's transaction; the
// daemon polls them, so a change made by another process (the CLI) is applied too.
import type { Database } from "bun:sqlite";

export type Section = "services" | "rules" | "lists";

export function bumpRevision(db: Database, section: Section): void {
	db.prepare("UPDATE dataplane_revisions SET revision = revision + 1 WHERE section = ?").run(section);
}

export function readRevisions(db: Database): Record<Section, number> {
	const out = { services: 0, rules: 0, lists: 0 };
	for (const r of db
		.query<{ section: Section; revision: number }, []>("SELECT section, revision FROM dataplane_revisions")
		.all())
		out[r.section] = r.revision;
	return out;
}
