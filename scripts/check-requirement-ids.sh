#!/usr/bin/env bash
# Every requirement ID the repository cites must be defined in
# docs/requirements.md, so that the code, tests and docs stand on their own.
#
#   bash scripts/check-requirement-ids.sh          # check; exit 1 on an undefined ID
#   bash scripts/check-requirement-ids.sh --list   # also print every cited ID with its count
#
# What counts as a citation, in every file git knows of (tracked, or untracked
# and not ignored; binary files skipped; docs/requirements.md and this script
# excluded):
# - upper-case IDs: T-POST-1, H-HDR-6, B-MSG-3, L-TO-3, U-PROG-3, R-HOST-1
#   (letter, word, number), INV-S5, INV-L1, X-24, A-2, SBP-2;
# - the short forms written next to one: T-PSSE-2..4, INV-L1..L4 (ranges),
#   U-CAN-6/8/9, INV-S5/S6 (alternatives), INV-S1, S2, S4 (lists);
# - families: T-SES-*, H-* (some ID of that family must be defined);
# - test function names in Rust files (`fn t_ses_7_...`, `fn x9_inv_s20_...`,
#   `fn inv_s25_x_12_...`): each ID-shaped run of words in the name.
#
# A definition is a table row of docs/requirements.md whose first cell is the
# ID (`| T-POST-1 | ...`). An ID defined twice is an error too.
set -euo pipefail
cd "$(dirname "$0")/.."

LIST=0
[[ "${1:-}" == "--list" ]] && LIST=1

CATALOGUE=docs/requirements.md
if [[ ! -f $CATALOGUE ]]; then
    echo "check-requirement-ids: $CATALOGUE is missing" >&2
    exit 1
fi

git ls-files -z --cached --others --exclude-standard |
    LIST=$LIST CATALOGUE=$CATALOGUE perl -0 -e '
use strict;
use warnings;

my $catalogue = $ENV{CATALOGUE};
my $self = "scripts/check-requirement-ids.sh";

# --- definitions -----------------------------------------------------------
my (%defined, @dups);
open(my $c, "<", $catalogue) or die "cannot read $catalogue: $!";
{
    local $/ = "\n";
    while (my $line = <$c>) {
        next unless $line =~ /^\|\s*`?([A-Z][A-Z0-9]*(?:-[A-Z]+)*-[A-Z]?[0-9]+)`?\s*\|/;
        push @dups, $1 if $defined{$1}++;
    }
}
close $c;

# --- citations -------------------------------------------------------------
my (%cited, %where, %families);
my $cite = sub {
    my ($id, $file) = @_;
    $cited{$id}++;
    $where{$id}{$file} = 1;
};

# Upper-case forms. $1: the ID without its number ("T-POST-", "INV-S",
# "X-"), $2: the number, $3: what follows (ranges, alternatives, lists).
# Besides these fixed shapes, every prefix the catalogue itself defines
# (HC-MRTR-, CACHE-, TASK-, ...) counts, so a new family of IDs is checked
# as soon as its first row exists.
my %prefixes;
for my $id (keys %defined) {
    (my $p = $id) =~ s/[0-9]+$//;
    $prefixes{$p} = 1 if $p =~ /-$/ && $p !~ /^(?:[THBLUR]-[A-Z]+-|X-|A-|SBP-)$/;
}
my $known = join "|", map { quotemeta } sort { length $b <=> length $a } keys %prefixes;
my $head = $known
    ? qr/(?:[THBLUR]-[A-Z]+-|INV-[SL]|X-|A-|SBP-|$known)/
    : qr/(?:[THBLUR]-[A-Z]+-|INV-[SL]|X-|A-|SBP-)/;
# The same prefixes as words of a test name: hc_mrtr_1_..., task_3_...
my @word_prefixes = map { [split /_/, lc(substr($_, 0, -1) =~ s/-/_/gr)] }
    sort { length $b <=> length $a } keys %prefixes;
my $family = qr/(?:[THBLUR](?:-[A-Z]+)?|INV|X|A|SBP)/;

my @files = split /\0/, do { local $/; <STDIN> };
for my $file (@files) {
    next if $file eq $catalogue || $file eq $self;
    next unless -f $file && -T $file;
    open(my $fh, "<", $file) or next;
    my $text = do { local $/; <$fh> };
    close $fh;

    while ($text =~ /(?<![A-Za-z0-9-])($family)-\*/g) {
        $families{$1}{$file} = 1;
    }
    while ($text =~ /(?<![A-Za-z0-9-])($head)([0-9]+)((?:(?:\.\.|\/|,\s?)[SL]?[0-9]+)*)(?![A-Za-z0-9])/g) {
        my ($h, $n, $rest) = ($1, $2, $3);
        # INV-S5: the letter belongs to the ID; "INV-S5/S6" repeats it.
        my ($base, $letter) = $h =~ /^(INV-)([SL])$/ ? ($1, $2) : ($h, "");
        $cite->("$base$letter$n", $file);
        my $prev = $n;
        while ($rest =~ /(\.\.|\/|,\s?)([SL]?)([0-9]+)/g) {
            my ($sep, $l, $m) = ($1, $2, $3);
            # "INV-S1, S2": a comma list continues only with the letter form;
            # "T-PSSE-3, 4" is not how the project writes lists.
            last if $sep =~ /,/ && $l eq "";
            last if $l ne "" && $l ne $letter;
            if ($sep eq "..") {
                $cite->("$base$letter$_", $file) for ($prev + 1) .. $m;
            } else {
                $cite->("$base$letter$m", $file);
            }
            $prev = $m;
        }
    }

    # Test names in Rust: split the function name into words.
    next unless $file =~ /\.rs$/;
    while ($text =~ /\bfn\s+([a-z0-9_]+)/g) {
        my @w = split /_/, $1;
        WORD: for (my $i = 0; $i < @w; $i++) {
            for my $pw (@word_prefixes) {
                my $n = @$pw;
                # A number of at most three digits: `json_schema_2020_12` is a
                # name, not SCHEMA-2020.
                next unless $i + $n < @w && $w[$i + $n] =~ /^[0-9]{1,3}$/;
                next if grep { $w[$i + $_] ne $pw->[$_] } 0 .. $n - 1;
                $cite->(uc(join("-", @$pw)) . "-$w[$i + $n]", $file);
                $i += $n;
                next WORD;
            }
            if ($w[$i] =~ /^[thblur]$/ && $i + 2 < @w && $w[$i + 1] =~ /^[a-z]+$/ && $w[$i + 2] =~ /^[0-9]+$/) {
                $cite->(uc("$w[$i]-$w[$i+1]-$w[$i+2]"), $file);
                $i += 2;
            } elsif ($w[$i] eq "inv" && $i + 1 < @w && $w[$i + 1] =~ /^([sl])([0-9]+)$/) {
                $cite->(uc("inv-$1") . $2, $file);
                $i += 1;
            } elsif ($w[$i] =~ /^x([0-9]+)$/) {
                $cite->("X-$1", $file);
            } elsif ($w[$i] =~ /^(x|a|sbp)$/ && $i + 1 < @w && $w[$i + 1] =~ /^[0-9]+$/) {
                $cite->(uc($w[$i]) . "-$w[$i+1]", $file);
                $i += 1;
            }
        }
    }
}

# --- verdict ---------------------------------------------------------------
my $status = 0;
if ($ENV{LIST}) {
    printf "%-12s %4d  %s\n", $_, $cited{$_}, join(" ", sort keys %{$where{$_}})
        for sort keys %cited;
}
for my $id (sort keys %cited) {
    next if $defined{$id};
    print STDERR "undefined: $id (cited in ", join(", ", sort keys %{$where{$id}}), ")\n";
    $status = 1;
}
for my $fam (sort keys %families) {
    next if grep { index($_, "$fam-") == 0 } keys %defined;
    print STDERR "undefined family: $fam-* (cited in ", join(", ", sort keys %{$families{$fam}}), ")\n";
    $status = 1;
}
for my $id (@dups) {
    print STDERR "defined twice in $catalogue: $id\n";
    $status = 1;
}
printf STDERR "check-requirement-ids: %d distinct IDs cited, %d defined, %s\n",
    scalar(keys %cited), scalar(keys %defined), $status ? "FAILED" : "all cited IDs defined";
exit $status;
'
