// Opens the appliance's SQLite database with the settings every connection needs, and applies
// the embedded migrations. Opening never creates directories: a bad path is the caller's error.
import { Database } from "bun:sqlite";
import { accessSync, constants, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { MIGRATIONS, type Migration } from "./migrations/index.ts";

export type { Database };

export class DatabaseError extends Error {}

export function databasePath(dataDir: string): string {
	return join(dataDir, "pistonprotection.db");
}

/** Opens (creating if needed) the database file; WAL, foreign keys, busy timeout. */
export function openDatabase(path: string, options: { readonly?: boolean } = {}): Database {
	const dir = dirname(path);
	if (!existsSync(dir)) throw new DatabaseError(`database directory ${dir} does not exist`);
	try {
		accessSync(existsSync(path) ? path : dir, options.readonly ? constants.R_OK : constants.R_OK | constants.W_OK);
	} catch {
		throw new DatabaseError(`database path ${path} is not ${options.readonly ? "readable" : "writable"}`);
	}
	let db: Database;
	try {
		db = options.readonly
			? new Database(path, { readonly: true, strict: true })
			: new Database(path, { create: true, strict: true });
		db.exec("PRAGMA busy_timeout = 5000");
		if (!options.readonly) {
			db.exec("PRAGMA journal_mode = WAL");
			// NORMAL in WAL mode keeps every committed transaction across a process crash.
			db.exec("PRAGMA synchronous = NORMAL");
		}
		db.exec("PRAGMA foreign_keys = ON");
	} catch (err) {
		throw new DatabaseError(`cannot open database ${path}: ${(err as Error).message}`);
	}
	return db;
}

export function schemaVersion(db: Database): number {
	const exists = db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
	if (!exists) return 0;
	const row = db.query<{ v: number | null }, []>("SELECT MAX(version) AS v FROM schema_migrations").get();
	return row?.v ?? 0;
}

/**
 * Applies every embedded migration not yet recorded, in version order, each in its own
 * transaction. A database that recorded a version this binary does not know was written by a
 * newer version and is refused rather than guessed at.
 */
export function migrate(db: Database, migrations: Migration[] = MIGRATIONS): Migration[] {
	db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at TEXT NOT NULL
	)`);
	const known = new Set(migrations.map((m) => m.version));
	const recorded = db
		.query<{ version: number }, []>("SELECT version FROM schema_migrations ORDER BY version")
		.all()
		.map((r) => r.version);
	const unknown = recorded.filter((v) => !known.has(v));
	if (unknown.length) {
		throw new DatabaseError(
			`database schema version ${Math.max(...unknown)} is newer than this binary knows (${Math.max(0, ...known)}); upgrade pistonprotection`,
		);
	}
	const done = new Set(recorded);
	const pending = migrations.filter((m) => !done.has(m.version)).sort((a, b) => a.version - b.version);
	const record = db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)");
	for (const m of pending) {
		db.transaction(() => {
			db.exec(m.sql);
			record.run(m.version, m.name, new Date().toISOString());
		})();
	}
	return pending;
}
