// Create and edit a backend: every field of the API (listeners, origins with their settings,
// load balancer, health check, protection with rate limits, GeoIP and challenge, domains).
// Adding or removing a row posts the form back and shows it again, so nothing typed is lost.
import { BACKEND_TYPES, LB_ALGORITHMS, PROTECTION_LEVELS } from "../../src/domain/backends/model.ts";
import { rows } from "../../src/ui/forms.ts";
import { Check, Csrf, ErrorSummary, Field, type FormState, Select, TextArea } from "../components.tsx";

const opts = (values: readonly string[]) => values.map((v) => [v, v] as const);

export function BackendFormPage(props: {
	form: FormState;
	csrf: string;
	/** null: a new backend. */
	backend: { id: string; name: string } | null;
}): string {
	const f = props.form;
	const action = props.backend ? `/backends/${props.backend.id}/edit` : "/backends/new";
	const origins = rows(f.values, "origins");
	const listeners = rows(f.values, "listeners");
	return (
		<>
			<h1 safe>{props.backend ? `Edit ${props.backend.name}` : "New backend"}</h1>
			<ErrorSummary form={f} />
			<form method="post" action={action} novalidate>
				<Csrf token={props.csrf} />
				<fieldset>
					<legend>Backend</legend>
					<div class="cols">
						<Field form={f} name="name" label="Name" required />
						<Select form={f} name="type" label="Type" options={opts(BACKEND_TYPES)} fallback="MINECRAFT_JAVA" />
					</div>
					<TextArea
						form={f}
						name="domains"
						label="Domains"
						hint="One per line. Minecraft Java, HTTP and HTTPS backends sharing a port are told apart by these."
					/>
				</fieldset>
				<fieldset id="f-listeners">
					<legend>Listeners</legend>
					<p class="hint muted small">Leave empty for the type's default port (TCP and UDP backends need one).</p>
					{listeners.map((i) => (
						<div class="cols">
							<Field form={f} name={`listeners[${i}].address`} label="Address" hint="Empty: every address" />
							<Field form={f} name={`listeners[${i}].port`} label="Port" type="number" min={1} max={65535} />
							<Select form={f} name={`listeners[${i}].protocol`} label="Protocol" options={opts(["TCP", "UDP"])} />
							<div class="field">
								<button type="submit" name="_op" value={`remove-listener:${i}`} class="danger small" formnovalidate>
									Remove listener {i + 1}
								</button>
							</div>
						</div>
					))}
					<button type="submit" name="_op" value="add-listener" class="secondary small" formnovalidate>
						Add listener
					</button>
				</fieldset>
				<fieldset id="f-origins">
					<legend>Origins</legend>
					{origins.map((i) => (
						<fieldset>
							<legend>Origin {i + 1}</legend>
							<div class="cols">
								<Field form={f} name={`origins[${i}].name`} label="Name" />
								<Field form={f} name={`origins[${i}].address`} label="Address" />
								<Field form={f} name={`origins[${i}].port`} label="Port" type="number" min={1} max={65535} />
								<Field form={f} name={`origins[${i}].weight`} label="Weight" type="number" min={0} max={1000} />
								<Field form={f} name={`origins[${i}].priority`} label="Priority" type="number" min={1} max={100} />
								<Check form={f} name={`origins[${i}].enabled`} label="Enabled" fallback />
							</div>
							<details>
								<summary>Connection settings</summary>
								<div class="cols">
									<Field
										form={f}
										name={`origins[${i}].settings.connectTimeoutMs`}
										label="Connect timeout (ms)"
										type="number"
									/>
									<Field
										form={f}
										name={`origins[${i}].settings.readTimeoutMs`}
										label="Read timeout (ms)"
										type="number"
									/>
									<Field
										form={f}
										name={`origins[${i}].settings.writeTimeoutMs`}
										label="Write timeout (ms)"
										type="number"
									/>
									<Field
										form={f}
										name={`origins[${i}].settings.maxConnections`}
										label="Max connections"
										type="number"
									/>
									<Select
										form={f}
										name={`origins[${i}].settings.proxyProtocol`}
										label="PROXY protocol"
										options={[
											["", "Default"],
											["0", "Off"],
											["1", "v1"],
											["2", "v2"],
										]}
									/>
								</div>
							</details>
							<button type="submit" name="_op" value={`remove-origin:${i}`} class="danger small" formnovalidate>
								Remove origin {i + 1}
							</button>
						</fieldset>
					))}
					<button type="submit" name="_op" value="add-origin" class="secondary small" formnovalidate>
						Add origin
					</button>
				</fieldset>
				<fieldset>
					<legend>Load balancer</legend>
					<div class="cols">
						<Select
							form={f}
							name="loadBalancer.algorithm"
							label="Algorithm"
							options={opts(LB_ALGORITHMS)}
							fallback="ROUND_ROBIN"
						/>
						<Check form={f} name="loadBalancer.stickySessions" label="Sticky sessions" />
					</div>
				</fieldset>
				<fieldset>
					<legend>Health check</legend>
					<Check form={f} name="healthCheck.enabled" label="Check origins' health" fallback />
					<div class="cols">
						<Field form={f} name="healthCheck.intervalSeconds" label="Interval (s)" type="number" hint="Empty: 30" />
						<Field form={f} name="healthCheck.timeoutSeconds" label="Timeout (s)" type="number" />
						<Field form={f} name="healthCheck.healthyThreshold" label="Healthy after" type="number" />
						<Field form={f} name="healthCheck.unhealthyThreshold" label="Unhealthy after" type="number" />
					</div>
					<Check
						form={f}
						name="healthCheck.minecraft.queryStatus"
						label="Query the Minecraft server status (Minecraft types)"
					/>
					<div class="cols">
						<Field form={f} name="healthCheck.http.path" label="HTTP path (HTTP types)" example="/health" />
						<Field form={f} name="healthCheck.http.expectedStatus" label="Expected status" type="number" />
					</div>
				</fieldset>
				<fieldset>
					<legend>Protection</legend>
					<div class="cols">
						<Check form={f} name="protection.enabled" label="Protection on" fallback />
						<Select
							form={f}
							name="protection.level"
							label="Level"
							options={opts(PROTECTION_LEVELS)}
							fallback="MEDIUM"
						/>
					</div>
					<p class="hint muted small">Rate limits left empty use the level's defaults (see Settings).</p>
					<div class="cols">
						<Field
							form={f}
							name="protection.perIpRateLimit.requestsPerSecond"
							label="Per source: packets/s"
							type="number"
						/>
						<Field form={f} name="protection.perIpRateLimit.burstSize" label="Per source: burst" type="number" />
						<Field
							form={f}
							name="protection.globalRateLimit.requestsPerSecond"
							label="Backend: packets/s"
							type="number"
						/>
						<Field form={f} name="protection.globalRateLimit.burstSize" label="Backend: burst" type="number" />
						<Field form={f} name="protection.perIpBandwidth.bytesPerSecond" label="Per source: bytes/s" type="number" />
						<Field form={f} name="protection.perIpBandwidth.burstBytes" label="Per source: burst bytes" type="number" />
					</div>
					<div class="cols">
						<Select
							form={f}
							name="protection.geoIp.mode"
							label="GeoIP"
							options={[
								["OFF", "Off"],
								["ALLOW_LIST", "Allow only these countries"],
								["BLOCK_LIST", "Block these countries"],
							]}
							fallback="OFF"
						/>
						<Field
							form={f}
							name="protection.geoIp.countries"
							label="Countries"
							example="CN, RU"
							hint="ISO codes, comma-separated"
						/>
					</div>
					<div class="cols">
						<Check form={f} name="protection.challenge.enabled" label="Challenge new players" />
						<Select
							form={f}
							name="protection.challenge.type"
							label="Challenge type"
							options={[
								["", "Default"],
								["JAVASCRIPT", "JavaScript"],
								["PROOF_OF_WORK", "Proof of work"],
								["MINECRAFT_LOGIN", "Minecraft login"],
							]}
						/>
						<Field
							form={f}
							name="protection.challenge.difficulty"
							label="Difficulty (1-10)"
							type="number"
							min={1}
							max={10}
						/>
					</div>
				</fieldset>
				<div class="row">
					<button type="submit" name="_op" value="save">
						{props.backend ? "Save changes" : "Create backend"}
					</button>
					<a class="button secondary" href={props.backend ? `/backends/${props.backend.id}` : "/backends"}>
						Cancel
					</a>
				</div>
			</form>
		</>
	) as string;
}
