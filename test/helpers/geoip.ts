// Small GeoIP fixtures: mmdb files written by Debian's libmaxmind-db-writer-perl from a
// network → record table, in the shapes MaxMind's GeoLite2 Country and ASN databases use.
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export function canWriteMmdb(): string | null {
	const p = Bun.spawnSync(["perl", "-MMaxMind::DB::Writer::Tree", "-e", "1"], { stdout: "pipe", stderr: "pipe" });
	return p.exitCode === 0 ? null : "needs libmaxmind-db-writer-perl (scripts/deps.sh test packages)";
}

const SCRIPT = `
use strict; use warnings;
use MaxMind::DB::Writer::Tree;
my ($out, $type, @pairs) = @ARGV;
my %types = $type eq 'asn'
  ? (autonomous_system_number => 'uint32', autonomous_system_organization => 'utf8_string')
  : (country => 'map', iso_code => 'utf8_string');
my $tree = MaxMind::DB::Writer::Tree->new(
  ip_version => 6, record_size => 24, database_type => $type eq 'asn' ? 'GeoLite2-ASN' : 'GeoLite2-Country',
  languages => ['en'], description => { en => 'PistonProtection test fixture' },
  map_key_type_callback => sub { $types{$_[0]} }, merge_strategy => 'none',
  alias_ipv6_to_ipv4 => 1, remove_reserved_networks => 0,
);
while (@pairs) {
  my $net = shift @pairs; my $value = shift @pairs;
  if ($type eq 'asn') {
    my ($asn, $org) = split /:/, $value, 2;
    $tree->insert_network($net, { autonomous_system_number => $asn + 0, autonomous_system_organization => $org });
  } else {
    $tree->insert_network($net, { country => { iso_code => $value } });
  }
}
open my $fh, '>:raw', $out or die "$out: $!";
$tree->write_tree($fh);
close $fh;
`;

/** Writes an mmdb: country networks map to ISO codes; asn networks to "13335:Org name". */
export function writeMmdb(
	dir: string,
	name: string,
	kind: "country" | "asn",
	networks: Record<string, string>,
): string {
	const script = join(dir, "write-mmdb.pl");
	writeFileSync(script, SCRIPT);
	const out = join(dir, name);
	const p = Bun.spawnSync(["perl", script, out, kind, ...Object.entries(networks).flat()], {
		stdout: "pipe",
		stderr: "pipe",
	});
	if (p.exitCode !== 0) throw new Error(`mmdb writer failed: ${p.stderr.toString()}`);
	return out;
}
