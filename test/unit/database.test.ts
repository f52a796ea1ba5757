import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { DatabaseError, migrate, openDatabase, schemaVersion } from "../../src/db/database.ts";
import { MIGRATIONS } from "../../src/db/migrations/index.ts";
import { tempDir } from "../helpers/daemon.ts";

const dirs: Array<{ cleanup(): void }> = [];
afterEach(() => {
	for (const d of dirs.splice(0)) d.cleanup();
});
function freshPath(): string {
	const d = tempDir();
	dirs.push(d);
	return join(d.path, "pp.db");
}

describe("database", () => {
	test("opens with WAL, foreign keys and a busy timeout", () => {
		const db = openDatabase(freshPath());
		expect(db.query<{ journal_mode: string }, []>("PRAGMA journal_mode").get()?.journal_mode).toBe("wal");
		expect(db.query<{ foreign_keys: number }, []>("PRAGMA foreign_keys").get()?.foreign_keys).toBe(1);
		expect(db.query<{ timeout: number }, []>("PRAGMA busy_timeout").get()?.timeout).toBe(5000);
		db.close();
	});

	test("applies every embedded migration once and records it", () => {
		const db = openDatabase(freshPath());
		expect(migrate(db).map((m) => m.version)).toEqual(MIGRATIONS.map((m) => m.version));
		expect(migrate(db)).toEqual([]);
		expect(schemaVersion(db)).toBe(MIGRATIONS.at(-1)?.version ?? 0);
		db.close();
	});

	test("a database from an older version upgrades in place and keeps its rows", () => {
		const path = freshPath();
		const older = openDatabase(path);
		migrate(older, MIGRATIONS.slice(0, 1));
		older
			.prepare("INSERT INTO organizations (id, name, created_at, updated_at) VALUES ('org_old', 'Old', 'x', 'x')")
			.run();
		older.close();
		const next = [
			...MIGRATIONS,
			{ version: 999, name: "later", sql: "ALTER TABLE organizations ADD COLUMN note TEXT" },
		];
		const db = openDatabase(path);
		const applied = migrate(db, next);
		expect(applied.at(-1)?.version).toBe(999);
		expect(db.query("SELECT id, note FROM organizations").all()).toEqual([{ id: "org_old", note: null }]);
		db.close();
	});

	test("a failing migration is rolled back whole and leaves the version unchanged", () => {
		const db = openDatabase(freshPath());
		migrate(db);
		const bad = [
			...MIGRATIONS,
			{ version: 1000, name: "bad", sql: "CREATE TABLE half (x INTEGER); INSERT INTO nowhere VALUES (1);" },
		];
		expect(() => migrate(db, bad)).toThrow();
		expect(db.query("SELECT name FROM sqlite_master WHERE name = 'half'").get()).toBeNull();
		expect(schemaVersion(db)).toBe(MIGRATIONS.at(-1)?.version ?? 0);
		db.close();
	});

	test("a database written by a newer version is refused, not guessed at", () => {
		const db = openDatabase(freshPath());
		migrate(db, [...MIGRATIONS, { version: 5000, name: "future", sql: "SELECT 1" }]);
		expect(() => migrate(db)).toThrow(DatabaseError);
		db.close();
	});

	test("a missing directory or an unwritable path is a DatabaseError and creates nothing", () => {
		const path = join(freshPath(), "..", "missing", "pp.db");
		expect(() => openDatabase(path)).toThrow(DatabaseError);
		expect(existsSync(join(path, ".."))).toBe(false);
		if (process.getuid?.() === 0) return; // root can write anywhere; covered by the CLI test with a file as parent
		const dir = join(freshPath(), "..", "ro");
		mkdirSync(dir);
		chmodSync(dir, 0o500);
		expect(() => openDatabase(join(dir, "pp.db"))).toThrow(DatabaseError);
	});

	test("a migration numbered below ones already applied (parallel work) is still applied, once", () => {
		const db = openDatabase(freshPath());
		const later = { version: 900, name: "later", sql: "CREATE TABLE later_t (x INTEGER)" };
		const gap = { version: 800, name: "gap", sql: "CREATE TABLE gap_t (x INTEGER)" };
		migrate(db, [...MIGRATIONS, later]);
		expect(migrate(db, [...MIGRATIONS, later, gap]).map((m) => m.version)).toEqual([800]);
		expect(migrate(db, [...MIGRATIONS, gap, later])).toEqual([]);
		expect(db.query("SELECT name FROM sqlite_master WHERE name = 'gap_t'").get()).not.toBeNull();
		db.close();
	});
});
