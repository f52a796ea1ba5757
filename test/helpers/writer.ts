// A process that commits rows through the appliance's database layer as fast as it can and
// prints each id only after its transaction committed. The durability test SIGKILLs it.
import { migrate, openDatabase } from "../../src/db/database.ts";
import { systemActor } from "../../src/domain/actor.ts";
import { AuditService } from "../../src/domain/audit/service.ts";
import { OrganizationService } from "../../src/domain/organizations/service.ts";

const [path] = process.argv.slice(2) as [string];
const db = openDatabase(path);
migrate(db);
const audit = new AuditService(db);
const actor = systemActor(new OrganizationService(db).insert("writer").id);
const until = Date.now() + 10_000;
for (let i = 0; i < 200_000 && Date.now() < until; i++) {
	const id = `row-${i}`;
	db.transaction(() =>
		audit.record(actor, { action: "test.write", resourceType: "test", resourceId: id, description: id }),
	)();
	process.stdout.write(`${id}\n`);
}
