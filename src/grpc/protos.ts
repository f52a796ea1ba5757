// The .proto files, embedded in the binary as text and parsed once into one protobufjs Root
// (field names as written, snake_case). Nothing is read from disk at run time.
import * as protoLoader from "@grpc/proto-loader";
import * as protobuf from "protobufjs";
import errorDetailsProto from "../../proto/google/rpc/error_details.proto" with { type: "text" };
import statusProto from "../../proto/google/rpc/status.proto" with { type: "text" };
import healthProto from "../../proto/grpc/health/v1/health.proto" with { type: "text" };
import reflectionV1Proto from "../../proto/grpc/reflection/v1/reflection.proto" with { type: "text" };
import reflectionV1AlphaProto from "../../proto/grpc/reflection/v1alpha/reflection.proto" with { type: "text" };
import alertProto from "../../proto/pistonprotection/v1/alert.proto" with { type: "text" };
import backendProto from "../../proto/pistonprotection/v1/backend.proto" with { type: "text" };
import commonProto from "../../proto/pistonprotection/v1/common.proto" with { type: "text" };
import filterProto from "../../proto/pistonprotection/v1/filter.proto" with { type: "text" };
import ipProto from "../../proto/pistonprotection/v1/ip.proto" with { type: "text" };
import metricsProto from "../../proto/pistonprotection/v1/metrics.proto" with { type: "text" };
import organizationProto from "../../proto/pistonprotection/v1/organization.proto" with { type: "text" };
import webhookProto from "../../proto/pistonprotection/v1/webhook.proto" with { type: "text" };

/** The API's files by import path, in dependency order. */
export const API_PROTOS: Record<string, string> = {
	"pistonprotection/v1/common.proto": commonProto,
	"pistonprotection/v1/alert.proto": alertProto,
	"pistonprotection/v1/backend.proto": backendProto,
	"pistonprotection/v1/filter.proto": filterProto,
	"pistonprotection/v1/ip.proto": ipProto,
	"pistonprotection/v1/metrics.proto": metricsProto,
	"pistonprotection/v1/organization.proto": organizationProto,
	"pistonprotection/v1/webhook.proto": webhookProto,
};

export const SUPPORT_PROTOS = {
	status: { "google/rpc/status.proto": statusProto, "google/rpc/error_details.proto": errorDetailsProto },
	health: { "grpc/health/v1/health.proto": healthProto },
	reflectionV1: { "grpc/reflection/v1/reflection.proto": reflectionV1Proto },
	reflectionV1Alpha: { "grpc/reflection/v1alpha/reflection.proto": reflectionV1AlphaProto },
};

/** protobufjs names the file being parsed in this static (its types record it; errors cite it). */
const parser = protobuf.parse as typeof protobuf.parse & { filename: string | null };

/** Parses embedded files into a root; google/protobuf imports come from protobufjs's bundled copies. */
export function parseProtos(files: Record<string, string>, keepCase = true): protobuf.Root {
	const root = new protobuf.Root();
	const common = new Set<string>();
	for (const [name, text] of Object.entries(files)) {
		parser.filename = name;
		const parsed = protobuf.parse(text, root, { keepCase });
		for (const dep of [...(parsed.imports ?? []), ...(parsed.weakImports ?? [])]) {
			if (!dep.startsWith("google/protobuf/") || common.has(dep)) continue;
			const json = protobuf.common.get(dep);
			if (!json) throw new Error(`${name} imports ${dep}, which is not bundled`);
			root.addJSON(json.nested as Record<string, protobuf.AnyNestedObject>);
			common.add(dep);
		}
		for (const dep of parsed.imports ?? [])
			if (!dep.startsWith("google/protobuf/") && !(dep in files))
				throw new Error(`${name} imports ${dep}, which is not embedded`);
	}
	parser.filename = null;
	root.resolveAll();
	return root;
}

/** The API and google.rpc error types: one root for (de)serializing and for reflection. */
export const apiRoot = parseProtos({ ...SUPPORT_PROTOS.status, ...API_PROTOS });

/** proto-loader's view of the API (file descriptors for reflection). */
export function apiPackageDefinition(): protoLoader.PackageDefinition {
	return protoLoader.fromJSON(apiRoot.toJSON(), { keepCase: true });
}

/** A grpc-js package definition for support services (health, reflection); keepCase as in options. */
export function supportPackageDefinition(
	files: Record<string, string>,
	options: protoLoader.Options,
): protoLoader.PackageDefinition {
	return protoLoader.fromJSON(parseProtos(files, options.keepCase ?? false).toJSON(), options);
}
