// IpService: the REST IP management endpoints (/v1/ips/...) over gRPC.

import type { Actor } from "../../domain/actor.ts";
import type { AddInput, ListKind } from "../../domain/iplists/service.ts";
import { type GrpcDeps, type Handlers, ids, type Json, pageOf } from "../handlers.ts";

export function ipHandlers({ services }: GrpcDeps): Handlers {
	const { ipLists } = services;
	const add = (list: ListKind) => (actor: Actor, request: Json) => ({
		entry: ipLists.add(actor, list, request as unknown as AddInput),
	});
	const remove = (list: ListKind) => (actor: Actor, request: Json) => ({
		entry: ipLists.remove(actor, list, ids(request, "ip").ip, (request.backendId as string | undefined) ?? undefined),
	});
	const list =
		(kind: ListKind) =>
		(actor: Actor, { page, pageSize, ...query }: Json) => {
			const result = ipLists.list(actor, kind, { ...query, ...pageOf({ page, pageSize }) });
			return { entries: result.data, pagination: result.pagination };
		};
	const bulk = (kind: ListKind) => (actor: Actor, request: Json) =>
		ipLists.addMany(actor, kind, (request.entries ?? []) as AddInput[]);
	return {
		BlockIp: add("block"),
		UnblockIp: remove("block"),
		ListBlockedIps: list("block"),
		BulkBlockIps: bulk("block"),
		AllowIp: add("allow"),
		RemoveAllowedIp: remove("allow"),
		ListAllowedIps: list("allow"),
		BulkAllowIps: bulk("allow"),
		BanIp: add("ban"),
		UnbanIp: remove("ban"),
		ListBannedIps: list("ban"),
	};
}
