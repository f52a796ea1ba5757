// A traffic client run inside a test namespace (ip netns exec … bun netclient.ts …).
// udp <src> <dst> <port> <count> <waitMs> [size] [srcPort]: sends count datagrams of size bytes
//   from src (and srcPort), prints how many replies came back.
// tcp <src> <dst> <port> <waitMs>: connects from src, sends a line, prints "ok" if it is echoed.
// bulk <src> <dst> <port> <bytes> <waitMs>: sends bytes to a server that answers "done" once it
//   has them all, prints "ok <ms>" when that answer came (else "timeout" or "error").
// banner <src> <dst> <port> <count> <waitMs>: opens count connections from src one after another,
//   each sending nothing and waiting up to waitMs for the server to speak first; prints how many
//   were greeted.
// burst <src> <dst> <port> <count> <waitMs>: opens count connections from src at once, each
//   waiting up to waitMs for the server to speak first; prints how many were greeted, reset,
//   left waiting (timeout) or failed otherwise, as JSON.
// hold <src> <dst> <port> <waitMs>: connects from src and keeps the connection: prints "open",
//   then writes every stdin line to the socket and prints what comes back; prints "closed" or
//   "error" if the connection ends, and exits then, at stdin's end, or after waitMs.
// Every loop is bounded by its count and waitMs.
import { connect } from "node:net";

const [mode, src, dst, port, a, b] = process.argv.slice(2) as [string, string, string, string, string, string];

/** One connection that sends nothing and waits up to waitMs for the server to speak first. */
function greeting(waitMs: number): Promise<"greeted" | "reset" | "timeout" | "error"> {
	return new Promise((resolve) => {
		const sock = connect({ host: dst, port: Number(port), localAddress: src });
		const timer = setTimeout(() => {
			sock.destroy();
			resolve("timeout");
		}, waitMs);
		sock.once("data", () => {
			clearTimeout(timer);
			sock.destroy();
			resolve("greeted");
		});
		sock.on("error", (e: NodeJS.ErrnoException) => {
			clearTimeout(timer);
			resolve(e.code === "ECONNRESET" ? "reset" : "error");
		});
	});
}

if (mode === "udp") {
	const count = Number(a);
	const waitMs = Number(b);
	const [size, srcPort] = process.argv.slice(8).map(Number);
	let replies = 0;
	const socket = await Bun.udpSocket({
		hostname: src,
		port: srcPort || 0,
		socket: {
			data() {
				replies++;
			},
			error() {
				// ICMP unreachable for an earlier datagram: the count of replies already says so.
			},
		},
	});
	const payload = Buffer.alloc(size || 64, 0x61);
	for (let i = 0; i < count; i++) {
		payload.writeUInt32BE(i, 0);
		try {
			socket.send(payload, Number(port), dst);
		} catch {
			// An earlier datagram met a closed port (ECONNREFUSED); keep sending the rest.
		}
	}
	const deadline = Date.now() + waitMs;
	while (replies < count && Date.now() < deadline) await Bun.sleep(10);
	socket.close();
	console.log(replies);
} else if (mode === "tcp") {
	const waitMs = Number(a);
	const result = await new Promise<string>((resolve) => {
		const timer = setTimeout(() => {
			sock.destroy();
			resolve("timeout");
		}, waitMs);
		const sock = connect({ host: dst, port: Number(port), localAddress: src }, () => sock.write("ping\n"));
		sock.on("data", (data) => {
			clearTimeout(timer);
			sock.end();
			resolve(data.toString().startsWith("ping") ? "ok" : "bad");
		});
		sock.on("error", () => {
			clearTimeout(timer);
			resolve("error");
		});
	});
	console.log(result);
	process.exit(0);
} else if (mode === "bulk") {
	const total = Number(a);
	const waitMs = Number(b);
	const started = performance.now();
	const result = await new Promise<string>((resolve) => {
		const timer = setTimeout(() => {
			sock.destroy();
			resolve("timeout");
		}, waitMs);
		const sock = connect({ host: dst, port: Number(port), localAddress: src }, () => {
			const chunk = Buffer.alloc(64 * 1024, 0x62);
			let sent = 0;
			const pump = () => {
				while (sent < total) {
					const n = Math.min(chunk.length, total - sent);
					sent += n;
					if (!sock.write(chunk.subarray(0, n))) return;
				}
			};
			sock.on("drain", pump);
			pump();
		});
		sock.on("data", (data) => {
			if (!data.toString().startsWith("done")) return;
			clearTimeout(timer);
			sock.end();
			resolve(`ok ${Math.round(performance.now() - started)}`);
		});
		sock.on("error", () => {
			clearTimeout(timer);
			resolve("error");
		});
	});
	console.log(result);
	process.exit(0);
} else if (mode === "banner") {
	const count = Number(a);
	let greeted = 0;
	for (let i = 0; i < count; i++) if ((await greeting(Number(b))) === "greeted") greeted++;
	console.log(greeted);
	process.exit(0);
} else if (mode === "burst") {
	// All at once: how each connection ended — greeted by the server, reset, or still waiting.
	const ends = await Promise.all(Array.from({ length: Number(a) }, () => greeting(Number(b))));
	const tally = (end: string) => ends.filter((e) => e === end).length;
	console.log(
		JSON.stringify({
			greeted: tally("greeted"),
			reset: tally("reset"),
			timeout: tally("timeout"),
			error: tally("error"),
		}),
	);
	process.exit(0);
} else if (mode === "hold") {
	const sock = connect({ host: dst, port: Number(port), localAddress: src }, () => console.log("open"));
	const done = (line: string) => {
		console.log(line);
		process.exit(0);
	};
	setTimeout(() => done("timeout"), Number(a));
	sock.on("data", (data) => process.stdout.write(data));
	sock.on("error", () => done("error"));
	sock.on("close", () => done("closed"));
	process.stdin.on("data", (data) => sock.write(data));
	process.stdin.on("end", () => {
		sock.end();
		done("closed");
	});
} else {
	console.error(`netclient: unknown mode ${mode}`);
	process.exit(2);
}
