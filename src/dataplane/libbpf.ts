// libbpf 1.1 through bun:ffi. Every native call is wrapped: a negative return becomes a
// LibbpfError naming the operation, so callers never see raw -errno values or pointers.
// Option structs are laid out exactly as /usr/include/bpf/{libbpf,bpf}.h define them for
// libbpf 1.1 (x86_64), including the `sz` field libbpf uses for compatibility checks.

import { dlopen, type Pointer, ptr, read, toArrayBuffer } from "bun:ffi";
import { constants as osConstants } from "node:os";

const P = "ptr";
const i32 = "i32";
const u32 = "u32";
const u64 = "u64";
const cstring = "cstring";
// size_t on the only ABI we ship for (x86_64 Linux).
const usize = u64;

const libbpf = dlopen("libbpf.so.1", {
	bpf_object__open_mem: { args: [P, usize, P], returns: P },
	bpf_object__load: { args: [P], returns: i32 },
	bpf_object__close: { args: [P], returns: "void" },
	bpf_object__find_program_by_name: { args: [P, P], returns: P },
	bpf_object__find_map_by_name: { args: [P, P], returns: P },
	bpf_object__next_map: { args: [P, P], returns: P },
	bpf_object__next_program: { args: [P, P], returns: P },
	bpf_program__fd: { args: [P], returns: i32 },
	bpf_program__name: { args: [P], returns: cstring },
	bpf_map__fd: { args: [P], returns: i32 },
	bpf_map__name: { args: [P], returns: cstring },
	bpf_map__type: { args: [P], returns: u32 },
	bpf_map__key_size: { args: [P], returns: u32 },
	bpf_map__value_size: { args: [P], returns: u32 },
	bpf_map__max_entries: { args: [P], returns: u32 },
	bpf_map__set_max_entries: { args: [P, u32], returns: i32 },
	bpf_map__set_pin_path: { args: [P, P], returns: i32 },
	bpf_map__reuse_fd: { args: [P, i32], returns: i32 },
	bpf_map__unpin: { args: [P, P], returns: i32 },
	bpf_map__pin: { args: [P, P], returns: i32 },
	bpf_obj_get: { args: [P], returns: i32 },
	bpf_obj_pin: { args: [i32, P], returns: i32 },
	bpf_map_update_elem: { args: [i32, P, P, u64], returns: i32 },
	bpf_map_lookup_elem: { args: [i32, P, P], returns: i32 },
	bpf_map_delete_elem: { args: [i32, P], returns: i32 },
	bpf_map_get_next_key: { args: [i32, P, P], returns: i32 },
	bpf_map_update_batch: { args: [i32, P, P, P, P], returns: i32 },
	bpf_map_delete_batch: { args: [i32, P, P, P], returns: i32 },
	bpf_xdp_attach: { args: [i32, i32, u32, P], returns: i32 },
	bpf_xdp_detach: { args: [i32, u32, P], returns: i32 },
	bpf_xdp_query_id: { args: [i32, i32, P], returns: i32 },
	bpf_prog_test_run_opts: { args: [i32, P], returns: i32 },
	bpf_prog_get_fd_by_id: { args: [u32], returns: i32 },
	bpf_map_get_fd_by_id: { args: [u32], returns: i32 },
	bpf_obj_get_info_by_fd: { args: [i32, P, P], returns: i32 },
	libbpf_num_possible_cpus: { args: [], returns: i32 },
	btf__load_vmlinux_btf: { args: [], returns: P },
	btf__find_by_name_kind: { args: [P, P, u32], returns: i32 },
	btf__free: { args: [P], returns: "void" },
});

const libc = dlopen("libc.so.6", {
	close: { args: [i32], returns: i32 },
	mmap: { args: [P, "u64", i32, i32, i32, "i64"], returns: "i64" },
	munmap: { args: [P, "u64"], returns: i32 },
	clock_gettime: { args: [i32, P], returns: i32 },
	__errno_location: { args: [], returns: P },
});

const CLOCK_MONOTONIC = 1;
const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;

// sizeof() of the libbpf 1.1 option structs; libbpf rejects unknown non-zero tails.
const OPEN_OPTS_SIZE = 80;
const XDP_ATTACH_OPTS_SIZE = 16;
const TEST_RUN_OPTS_SIZE = 80;
const BATCH_OPTS_SIZE = 24;
const PROG_INFO_SIZE = 232;
const MAP_INFO_SIZE = 88;

export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;

export const XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0;
export const XDP_FLAGS_SKB_MODE = 1 << 1;
export const XDP_FLAGS_DRV_MODE = 1 << 2;
export const XDP_FLAGS_REPLACE = 1 << 4;

/** BPF_PROG_TEST_RUN flag: XDP frames the program redirects or transmits really leave (kernel ≥ 5.18). */
export const BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1;

export const XDP_ABORTED = 0;
export const XDP_DROP = 1;
export const XDP_PASS = 2;
export const XDP_TX = 3;
export const XDP_REDIRECT = 4;

export const BPF_MAP_TYPE = {
	HASH: 1,
	ARRAY: 2,
	PERCPU_HASH: 5,
	PERCPU_ARRAY: 6,
	LRU_HASH: 9,
	LRU_PERCPU_HASH: 10,
	LPM_TRIE: 11,
	RINGBUF: 27,
} as const;

const PER_CPU_TYPES = new Set<number>([
	BPF_MAP_TYPE.PERCPU_HASH,
	BPF_MAP_TYPE.PERCPU_ARRAY,
	BPF_MAP_TYPE.LRU_PERCPU_HASH,
]);

const errnoNames = new Map<number, string>(Object.entries(osConstants.errno).map(([name, value]) => [value, name]));

export class LibbpfError extends Error {
	readonly op: string;
	readonly errno: number;
	readonly errname: string;
	/** Verifier output when a program failed to load. */
	readonly verifierLog: string | undefined;

	constructor(op: string, errno: number, verifierLog?: string) {
		const errname = errnoNames.get(errno) ?? `errno ${errno}`;
		super(`${op}: ${errname}${verifierLog ? `\n${verifierLog}` : ""}`);
		this.name = "LibbpfError";
		this.op = op;
		this.errno = errno;
		this.errname = errname;
		this.verifierLog = verifierLog;
	}
}

function errnoNow(): number {
	const loc = libc.symbols.__errno_location();
	return loc === null ? 0 : read.i32(loc, 0);
}

/** Throws for a libbpf-style negative return; passes non-negative values through. */
function check(op: string, ret: number): number {
	if (ret < 0) throw new LibbpfError(op, -ret);
	return ret;
}

function cstr(s: string): Uint8Array {
	return new TextEncoder().encode(`${s}\0`);
}

function readCString(buf: Uint8Array, offset = 0, max = buf.length): string {
	let end = offset;
	while (end < offset + max && end < buf.length && buf[end] !== 0) end++;
	return new TextDecoder().decode(buf.subarray(offset, end));
}

/** CLOCK_MONOTONIC in ns: the clock of bpf_ktime_get_ns, so expiries written here match. */
export function monotonicNowNs(): bigint {
	const ts = new BigInt64Array(2);
	check("clock_gettime", libc.symbols.clock_gettime(CLOCK_MONOTONIC, ptr(ts)) === 0 ? 0 : -errnoNow());
	return (ts[0] as bigint) * 1_000_000_000n + (ts[1] as bigint);
}

let possibleCpus: number | undefined;
export function numPossibleCpus(): number {
	possibleCpus ??= check("libbpf_num_possible_cpus", libbpf.symbols.libbpf_num_possible_cpus());
	return possibleCpus;
}

const BTF_KIND_FUNC = 12;

/**
 * Which of the named kernel functions (helpers' implementations, kfuncs) the running kernel's
 * BTF lacks; all of them when it has no BTF at all.
 */
export function missingKernelFuncs(names: string[]): string[] {
	const btf = libbpf.symbols.btf__load_vmlinux_btf();
	if (btf === null) return [...names];
	try {
		return names.filter((n) => libbpf.symbols.btf__find_by_name_kind(btf, ptr(cstr(n)), BTF_KIND_FUNC) < 0);
	} finally {
		libbpf.symbols.btf__free(btf);
	}
}

export function closeFd(fd: number): void {
	if (libc.symbols.close(fd) !== 0) throw new LibbpfError("close", errnoNow());
}

/** Opens a pinned object (map or program); the caller owns the returned fd. */
export function objGet(path: string): number {
	return check(`bpf_obj_get(${path})`, libbpf.symbols.bpf_obj_get(ptr(cstr(path))));
}

export function objPin(fd: number, path: string): void {
	check(`bpf_obj_pin(${path})`, libbpf.symbols.bpf_obj_pin(fd, ptr(cstr(path))));
}

export type XdpMode = "native" | "skb";

function modeFlags(mode: XdpMode): number {
	return mode === "native" ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
}

function attachOpts(oldProgFd: number | undefined): Uint8Array | null {
	if (oldProgFd === undefined) return null;
	const buf = new Uint8Array(XDP_ATTACH_OPTS_SIZE);
	const dv = new DataView(buf.buffer);
	dv.setBigUint64(0, BigInt(XDP_ATTACH_OPTS_SIZE), true);
	dv.setInt32(8, oldProgFd, true);
	return buf;
}

/**
 * Attaches progFd as the interface's XDP program. With replaceFd the kernel swaps
 * atomically and fails with EEXIST unless replaceFd is what is attached now.
 */
export function xdpAttach(ifindex: number, progFd: number, opts: { mode: XdpMode; replaceFd?: number }): void {
	let flags = modeFlags(opts.mode);
	if (opts.replaceFd !== undefined) flags |= XDP_FLAGS_REPLACE;
	const o = attachOpts(opts.replaceFd);
	check(
		`bpf_xdp_attach(ifindex ${ifindex})`,
		libbpf.symbols.bpf_xdp_attach(ifindex, progFd, flags, o === null ? null : ptr(o)),
	);
}

/** Detaches; with expectedFd only if that program is the one attached. */
export function xdpDetach(ifindex: number, opts: { mode: XdpMode; expectedFd?: number }): void {
	let flags = modeFlags(opts.mode);
	if (opts.expectedFd !== undefined) flags |= XDP_FLAGS_REPLACE;
	const o = attachOpts(opts.expectedFd);
	check(
		`bpf_xdp_detach(ifindex ${ifindex})`,
		libbpf.symbols.bpf_xdp_detach(ifindex, flags, o === null ? null : ptr(o)),
	);
}

/** Id of the XDP program attached in that mode, 0 when none. */
export function xdpQueryId(ifindex: number, mode: XdpMode): number {
	const id = new Uint32Array(1);
	check(`bpf_xdp_query_id(ifindex ${ifindex})`, libbpf.symbols.bpf_xdp_query_id(ifindex, modeFlags(mode), ptr(id)));
	return id[0] as number;
}

export interface ProgInfo {
	id: number;
	type: number;
	name: string;
	/** The kernel's 8-byte program tag, hex. */
	tag: string;
}

export function progInfoByFd(fd: number): ProgInfo {
	const info = new Uint8Array(PROG_INFO_SIZE);
	const len = new Uint32Array([PROG_INFO_SIZE]);
	check("bpf_obj_get_info_by_fd(prog)", libbpf.symbols.bpf_obj_get_info_by_fd(fd, ptr(info), ptr(len)));
	const dv = new DataView(info.buffer);
	return {
		type: dv.getUint32(0, true),
		id: dv.getUint32(4, true),
		tag: Buffer.from(info.subarray(8, 16)).toString("hex"),
		name: readCString(info, 64, 16),
	};
}

/** Name and tag of a program by id, e.g. the one xdpQueryId reports. */
export function progInfoById(id: number): ProgInfo {
	const fd = check(`bpf_prog_get_fd_by_id(${id})`, libbpf.symbols.bpf_prog_get_fd_by_id(id));
	try {
		return progInfoByFd(fd);
	} finally {
		closeFd(fd);
	}
}

/** Opens a map by id (e.g. one an attached program uses); the caller owns the fd. */
export function mapFdById(id: number): number {
	return check(`bpf_map_get_fd_by_id(${id})`, libbpf.symbols.bpf_map_get_fd_by_id(id));
}

/** Opens a program by id; the caller owns the fd (e.g. as replaceFd). */
export function progFdById(id: number): number {
	return check(`bpf_prog_get_fd_by_id(${id})`, libbpf.symbols.bpf_prog_get_fd_by_id(id));
}

export interface MapInfo {
	id: number;
	type: number;
	keySize: number;
	valueSize: number;
	maxEntries: number;
	flags: number;
	name: string;
}

export function mapInfoByFd(fd: number): MapInfo {
	const info = new Uint8Array(MAP_INFO_SIZE);
	const len = new Uint32Array([MAP_INFO_SIZE]);
	check("bpf_obj_get_info_by_fd(map)", libbpf.symbols.bpf_obj_get_info_by_fd(fd, ptr(info), ptr(len)));
	const dv = new DataView(info.buffer);
	return {
		type: dv.getUint32(0, true),
		id: dv.getUint32(4, true),
		keySize: dv.getUint32(8, true),
		valueSize: dv.getUint32(12, true),
		maxEntries: dv.getUint32(16, true),
		flags: dv.getUint32(20, true),
		name: readCString(info, 24, 16),
	};
}

function roundUp8(n: number): number {
	return (n + 7) & ~7;
}

/** A map by fd with raw byte keys and values. Per-CPU values are valueSize rounded to 8, per possible CPU. */
export class BpfMap {
	readonly fd: number;
	readonly info: MapInfo;
	readonly perCpu: boolean;
	/** Bytes of one lookup/update value buffer. */
	readonly valueBytes: number;
	private readonly owned: boolean;
	private closed = false;

	constructor(fd: number, owned: boolean) {
		this.fd = fd;
		this.owned = owned;
		this.info = mapInfoByFd(fd);
		this.perCpu = PER_CPU_TYPES.has(this.info.type);
		this.valueBytes = this.perCpu ? roundUp8(this.info.valueSize) * numPossibleCpus() : this.info.valueSize;
	}

	/** Opens a pinned map; close() releases the fd. */
	static fromPinned(path: string): BpfMap {
		return new BpfMap(objGet(path), true);
	}

	get name(): string {
		return this.info.name;
	}

	private op(what: string): string {
		return `${what}(${this.info.name})`;
	}

	private checkKey(key: Uint8Array): void {
		if (key.length !== this.info.keySize) {
			throw new LibbpfError(`${this.op("key size")} ${key.length} != ${this.info.keySize}`, osConstants.errno.EINVAL);
		}
	}

	lookup(key: Uint8Array): Uint8Array | null {
		this.checkKey(key);
		const value = new Uint8Array(this.valueBytes);
		const ret = libbpf.symbols.bpf_map_lookup_elem(this.fd, ptr(key), ptr(value));
		if (ret === -osConstants.errno.ENOENT) return null;
		check(this.op("bpf_map_lookup_elem"), ret);
		return value;
	}

	/** One value per possible CPU, for per-CPU maps. */
	lookupPerCpu(key: Uint8Array): Uint8Array[] | null {
		const all = this.lookup(key);
		if (all === null) return null;
		const stride = roundUp8(this.info.valueSize);
		const out: Uint8Array[] = [];
		for (let off = 0; off < all.length; off += stride) out.push(all.subarray(off, off + this.info.valueSize));
		return out;
	}

	update(key: Uint8Array, value: Uint8Array, flags = BPF_ANY): void {
		this.checkKey(key);
		if (value.length !== this.valueBytes) {
			throw new LibbpfError(`${this.op("value size")} ${value.length} != ${this.valueBytes}`, osConstants.errno.EINVAL);
		}
		check(this.op("bpf_map_update_elem"), libbpf.symbols.bpf_map_update_elem(this.fd, ptr(key), ptr(value), flags));
	}

	/** Returns false when the key was absent. */
	delete(key: Uint8Array): boolean {
		this.checkKey(key);
		const ret = libbpf.symbols.bpf_map_delete_elem(this.fd, ptr(key));
		if (ret === -osConstants.errno.ENOENT) return false;
		check(this.op("bpf_map_delete_elem"), ret);
		return true;
	}

	*keys(): Generator<Uint8Array> {
		let prev: Uint8Array | null = null;
		for (;;) {
			const next = new Uint8Array(this.info.keySize);
			const ret = libbpf.symbols.bpf_map_get_next_key(this.fd, prev === null ? null : ptr(prev), ptr(next));
			if (ret === -osConstants.errno.ENOENT) return;
			check(this.op("bpf_map_get_next_key"), ret);
			yield next;
			prev = next;
		}
	}

	/**
	 * Writes many entries with BPF_MAP_UPDATE_BATCH; map types without batch support
	 * (LPM tries, arrays of maps) fall back to one update per entry.
	 */
	updateMany(keys: Uint8Array[], values: Uint8Array[], flags = BPF_ANY): void {
		if (keys.length !== values.length) {
			throw new LibbpfError(this.op("updateMany: keys/values length"), osConstants.errno.EINVAL);
		}
		if (keys.length === 0) return;
		const kbuf = concat(keys, this.info.keySize);
		const vbuf = concat(values, this.valueBytes);
		const count = new Uint32Array([keys.length]);
		const ret = libbpf.symbols.bpf_map_update_batch(this.fd, ptr(kbuf), ptr(vbuf), ptr(count), ptr(batchOpts(flags)));
		if (ret === -osConstants.errno.EINVAL || ret === -osConstants.errno.ENOTSUP || ret === -524) {
			for (let i = 0; i < keys.length; i++) this.update(keys[i] as Uint8Array, values[i] as Uint8Array, flags);
			return;
		}
		check(this.op("bpf_map_update_batch"), ret);
	}

	/** Deletes many keys; returns how many existed. Falls back per key like updateMany. */
	deleteMany(keys: Uint8Array[]): number {
		if (keys.length === 0) return 0;
		const kbuf = concat(keys, this.info.keySize);
		const count = new Uint32Array([keys.length]);
		const ret = libbpf.symbols.bpf_map_delete_batch(this.fd, ptr(kbuf), ptr(count), ptr(batchOpts(0)));
		if (ret === 0) return keys.length;
		// A batch stops at the first missing key, so finish one key at a time.
		if (
			ret === -osConstants.errno.ENOENT ||
			ret === -osConstants.errno.EINVAL ||
			ret === -osConstants.errno.ENOTSUP ||
			ret === -524
		) {
			const done = ret === -osConstants.errno.ENOENT ? (count[0] as number) : 0;
			let deleted = done;
			for (let i = done; i < keys.length; i++) if (this.delete(keys[i] as Uint8Array)) deleted++;
			return deleted;
		}
		check(this.op("bpf_map_delete_batch"), ret);
		return keys.length;
	}

	/**
	 * Runs fn over the values of an array map created with BPF_F_MMAPABLE, mapped shared: what
	 * fn writes, the program reads at once. Values are 8-byte aligned, as in the kernel (a __u32
	 * value is every other u32). The mapping ends when fn returns; fn must not keep it.
	 */
	withMapped<T>(fn: (values: ArrayBuffer) => T): T {
		const bytes = this.info.maxEntries * roundUp8(this.info.valueSize);
		const length = Math.ceil(bytes / 4096) * 4096;
		const ret = BigInt(libc.symbols.mmap(null, length, PROT_READ | PROT_WRITE, MAP_SHARED, this.fd, 0));
		if (ret === -1n) throw new LibbpfError(this.op("mmap"), errnoNow());
		const addr = Number(ret);
		try {
			return fn(toArrayBuffer(addr as Pointer, 0, bytes));
		} finally {
			libc.symbols.munmap(addr as Pointer, length);
		}
	}

	pin(path: string): void {
		objPin(this.fd, path);
	}

	close(): void {
		if (this.owned && !this.closed) closeFd(this.fd);
		this.closed = true;
	}
}

function concat(items: Uint8Array[], size: number): Uint8Array {
	const out = new Uint8Array(items.length * size);
	items.forEach((item, i) => {
		if (item.length !== size)
			throw new LibbpfError(`batch element size ${item.length} != ${size}`, osConstants.errno.EINVAL);
		out.set(item, i * size);
	});
	return out;
}

function batchOpts(elemFlags: number): Uint8Array {
	const buf = new Uint8Array(BATCH_OPTS_SIZE);
	const dv = new DataView(buf.buffer);
	dv.setBigUint64(0, BigInt(BATCH_OPTS_SIZE), true);
	dv.setBigUint64(8, BigInt(elemFlags), true);
	return buf;
}

export interface TestRunResult {
	retval: number;
	/** Average ns per repetition, as measured by the kernel. */
	durationNs: number;
	dataOut: Uint8Array;
}

export class BpfProgram {
	readonly name: string;
	readonly fd: number;

	constructor(name: string, fd: number) {
		this.name = name;
		this.fd = fd;
	}

	/**
	 * BPF_PROG_TEST_RUN; XDP needs at least 14 bytes of data. flags takes e.g.
	 * BPF_F_TEST_XDP_LIVE_FRAMES, with batchSize frames per batch (0 = the kernel's 64).
	 */
	testRun(
		data: Uint8Array,
		opts: { repeat?: number; dataOutSize?: number; flags?: number; batchSize?: number } = {},
	): TestRunResult {
		const out = new Uint8Array(opts.dataOutSize ?? data.length + 256);
		const o = new Uint8Array(TEST_RUN_OPTS_SIZE);
		const dv = new DataView(o.buffer);
		dv.setBigUint64(0, BigInt(TEST_RUN_OPTS_SIZE), true);
		dv.setBigUint64(8, BigInt(ptr(data)), true);
		dv.setBigUint64(16, BigInt(ptr(out)), true);
		dv.setUint32(24, data.length, true);
		dv.setUint32(28, out.length, true);
		dv.setInt32(60, opts.repeat ?? 1, true);
		dv.setUint32(68, opts.flags ?? 0, true);
		dv.setUint32(76, opts.batchSize ?? 0, true);
		check(`bpf_prog_test_run_opts(${this.name})`, libbpf.symbols.bpf_prog_test_run_opts(this.fd, ptr(o)));
		return {
			retval: dv.getUint32(56, true),
			durationNs: dv.getUint32(64, true),
			dataOut: out.slice(0, dv.getUint32(28, true)),
		};
	}

	info(): ProgInfo {
		return progInfoByFd(this.fd);
	}
}

/** A map of an opened object: configure before load(), then use map() for the fd. */
export class BpfObjectMap {
	private readonly handle: Pointer;
	readonly name: string;

	constructor(handle: Pointer, name: string) {
		this.handle = handle;
		this.name = name;
	}

	get maxEntries(): number {
		return libbpf.symbols.bpf_map__max_entries(this.handle);
	}

	setMaxEntries(n: number): void {
		check(`bpf_map__set_max_entries(${this.name}, ${n})`, libbpf.symbols.bpf_map__set_max_entries(this.handle, n));
	}

	/** null clears the pin path, so load() neither pins nor reuses a pinned map. */
	setPinPath(path: string | null): void {
		const p = path === null ? null : ptr(cstr(path));
		check(`bpf_map__set_pin_path(${this.name})`, libbpf.symbols.bpf_map__set_pin_path(this.handle, p));
	}

	/** Makes load() use an existing map (e.g. one re-opened from its pin) instead of creating one. */
	reuseFd(fd: number): void {
		check(`bpf_map__reuse_fd(${this.name})`, libbpf.symbols.bpf_map__reuse_fd(this.handle, fd));
	}

	/** Pins at path, or at the pin path set before load when path is omitted. */
	pin(path?: string): void {
		const p = path === undefined ? null : ptr(cstr(path));
		check(`bpf_map__pin(${this.name})`, libbpf.symbols.bpf_map__pin(this.handle, p));
	}

	unpin(path?: string): void {
		const p = path === undefined ? null : ptr(cstr(path));
		check(`bpf_map__unpin(${this.name})`, libbpf.symbols.bpf_map__unpin(this.handle, p));
	}

	/** The loaded map; its fd belongs to the object and closes with it. */
	map(): BpfMap {
		return new BpfMap(check(`bpf_map__fd(${this.name})`, libbpf.symbols.bpf_map__fd(this.handle)), false);
	}
}

export interface OpenOptions {
	objectName?: string;
	/** Root for maps declared with LIBBPF_PIN_BY_NAME (libbpf's default is /sys/fs/bpf). */
	pinRootPath?: string;
	/** Ignore the maps' pinning attribute: private maps, e.g. for tests and benchmarks. */
	noPinning?: boolean;
	/** Bytes kept for the verifier log of a failed load. */
	logSize?: number;
	/** 0 logs only on failure (libbpf retries at level 1); 1 or 2 log always. */
	logLevel?: number;
}

export class BpfObject {
	private handle: Pointer | null;
	// libbpf keeps pointers into these until load/close, so they must outlive the calls.
	private readonly keep: Uint8Array[];
	private readonly logBuf: Uint8Array;

	private constructor(handle: Pointer, keep: Uint8Array[], logBuf: Uint8Array) {
		this.handle = handle;
		this.keep = keep;
		this.logBuf = logBuf;
	}

	static openMem(bytes: Uint8Array, opts: OpenOptions = {}): BpfObject {
		const image = new Uint8Array(bytes);
		const logBuf = new Uint8Array(opts.logSize ?? 1 << 20);
		const keep: Uint8Array[] = [image, logBuf];
		const o = new Uint8Array(OPEN_OPTS_SIZE);
		const dv = new DataView(o.buffer);
		dv.setBigUint64(0, BigInt(OPEN_OPTS_SIZE), true);
		if (opts.objectName !== undefined) {
			const name = cstr(opts.objectName);
			keep.push(name);
			dv.setBigUint64(8, BigInt(ptr(name)), true);
		}
		if (opts.pinRootPath !== undefined) {
			const root = cstr(opts.pinRootPath);
			keep.push(root);
			dv.setBigUint64(24, BigInt(ptr(root)), true);
		}
		dv.setBigUint64(56, BigInt(ptr(logBuf)), true);
		dv.setBigUint64(64, BigInt(logBuf.length), true);
		dv.setUint32(72, opts.logLevel ?? 0, true);
		keep.push(o);
		const handle = libbpf.symbols.bpf_object__open_mem(ptr(image), image.length, ptr(o));
		if (handle === null) throw new LibbpfError("bpf_object__open_mem", errnoNow());
		const obj = new BpfObject(handle as Pointer, keep, logBuf);
		if (opts.noPinning) {
			try {
				for (const name of obj.mapNames()) obj.objectMap(name).setPinPath(null);
			} catch (err) {
				obj.close();
				throw err;
			}
		}
		return obj;
	}

	static async openFile(path: string, opts: OpenOptions = {}): Promise<BpfObject> {
		return BpfObject.openMem(new Uint8Array(await Bun.file(path).arrayBuffer()), opts);
	}

	private get h(): Pointer {
		if (this.handle === null) throw new LibbpfError("bpf_object (closed)", osConstants.errno.EBADF);
		return this.handle;
	}

	/** Loads every program and creates (or reuses and pins) every map. */
	load(): void {
		const ret = libbpf.symbols.bpf_object__load(this.h);
		if (ret < 0) {
			const log = readCString(this.logBuf).trim();
			throw new LibbpfError("bpf_object__load", -ret, log.length > 0 ? log : undefined);
		}
	}

	/** The verifier log so far (filled on failure, or always with logLevel ≥ 1). */
	verifierLog(): string {
		return readCString(this.logBuf);
	}

	mapNames(): string[] {
		const names: string[] = [];
		let m = libbpf.symbols.bpf_object__next_map(this.h, null);
		while (m !== null) {
			names.push(String(libbpf.symbols.bpf_map__name(m)));
			m = libbpf.symbols.bpf_object__next_map(this.h, m);
		}
		return names;
	}

	programNames(): string[] {
		const names: string[] = [];
		let p = libbpf.symbols.bpf_object__next_program(this.h, null);
		while (p !== null) {
			names.push(String(libbpf.symbols.bpf_program__name(p)));
			p = libbpf.symbols.bpf_object__next_program(this.h, p);
		}
		return names;
	}

	objectMap(name: string): BpfObjectMap {
		const m = libbpf.symbols.bpf_object__find_map_by_name(this.h, ptr(cstr(name)));
		if (m === null) throw new LibbpfError(`bpf_object__find_map_by_name(${name})`, osConstants.errno.ENOENT);
		return new BpfObjectMap(m as Pointer, name);
	}

	/** Shorthand for objectMap(name).map() after load. */
	map(name: string): BpfMap {
		return this.objectMap(name).map();
	}

	program(name: string): BpfProgram {
		const p = libbpf.symbols.bpf_object__find_program_by_name(this.h, ptr(cstr(name)));
		if (p === null) throw new LibbpfError(`bpf_object__find_program_by_name(${name})`, osConstants.errno.ENOENT);
		return new BpfProgram(name, check(`bpf_program__fd(${name})`, libbpf.symbols.bpf_program__fd(p)));
	}

	close(): void {
		if (this.handle !== null) libbpf.symbols.bpf_object__close(this.handle);
		this.handle = null;
		this.keep.length = 0;
	}
}
