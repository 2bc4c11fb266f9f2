# `edgelm probe`: every source says available or why not, on this machine and on fixture trees
# laid out like real sysfs; --sample integrates energy; bad flags are usage errors.
. "$(dirname "$0")/testlib.sh"
P=$FIXTURES/probe
EMPTY=$TMP/empty-root
mkdir -p "$EMPTY"

run "$ELM" probe --help
expect_rc 0 "probe --help"
expect_out "usage: edgelm probe" "help names the command"
expect_out "EDGELM_SYSFS_ROOT" "help names the root variable"

run "$ELM" probe
expect_rc 0 "probe on this machine"
for s in rapl hwmon jetson rpi5 nvml cmd constant estimate; do
  expect_out "^  $s +(available|unavailable: .+)" "source $s is listed with its state"
done
expect_out "^  nvml +unavailable: .*libnvidia-ml" "nvml says why (dlerror)"
expect_out "^  cycles +(supported|unsupported: .+)" "cycles listed"
expect_out "^  page-faults +supported" "software counters always"
expect_out "peak RSS \(VmHWM\) +[0-9.]+ (KiB|MiB)" "peak RSS"
expect_out "^  cpus +[0-9]+" "core count"
if [ ! -d /sys/class/powercap ]; then
  expect_out "^  rapl +unavailable: .*powercap" "no RAPL here, said so"
fi
if ! grep -qE "^  (rapl|hwmon|jetson|rpi5|nvml) +available" "$TMP/out"; then
  expect_out "no power sensor on this machine" "no sensor here, said clearly"
fi
grep -qE "(^|[^.0-9])0 ?(W|J)\b" "$TMP/out" && bad "a figure printed as 0" || ok "no figure printed as 0"

run env EDGELM_SYSFS_ROOT="$EMPTY" "$ELM" probe --json
expect_rc 0 "probe --json on an empty root"
expect_out '"source":"rapl","available":false,"reason":"[^"]*powercap' "json: RAPL unavailable with reason"
expect_out '"power_sensor":false' "json: no sensor"
expect_out '"event":"page-faults","supported":true' "json: page faults"
expect_out '"cpu_model":\{"unavailable":' "json: missing fact is unavailable, not empty"
if command -v python3 >/dev/null; then
  python3 -m json.tool "$TMP/out" >/dev/null && ok "json parses" || bad "json does not parse"
fi

run env EDGELM_SYSFS_ROOT="$P/jetson" "$ELM" probe
expect_rc 0 "probe on a Jetson tree"
expect_out "^  jetson +available: INA3221 \(JetPack 5/6 hwmon\); total = VDD_IN" "jetson available, total VDD_IN"
expect_out "channels: VDD_IN, VDD_CPU_GPU_CV, VDD_SOC, VDDQ_VDD2_1V8AO$" "NC and sum-of-shunts skipped"
expect_out "^  jetson +NVIDIA Jetson Orin Nano" "jetson model"
expect_out "^  nvpmodel +pmode:0001" "nvpmodel mode"
expect_out "^  cpu0 +schedutil, 1510 MHz" "governor and frequency"

# no status file: the mode comes from `nvpmodel -q`, the binary EDGELM_NVPMODEL names
printf '#!/bin/sh\n[ "$1" = -q ] && printf "NV Power Mode: MAXN\\n0\\n"\n' >"$TMP/nvpmodel"
chmod +x "$TMP/nvpmodel"
run env EDGELM_SYSFS_ROOT="$P/rapl" EDGELM_NVPMODEL="$TMP/nvpmodel" "$ELM" probe
expect_out "^  nvpmodel +MAXN$" "nvpmodel -q through EDGELM_NVPMODEL"

run env EDGELM_SYSFS_ROOT="$P/rapl" "$ELM" probe --power rapl
expect_rc 0 "probe on a RAPL tree"
expect_out "^  rapl +available: energy counters; total = package-0 \+ dram" "rapl zones"
grep -q "hwmon" "$TMP/out" && bad "--power lists only that source" || ok "--power lists only that source"

run env EDGELM_SYSFS_ROOT="$P/rapl-garbage" "$ELM" probe --power rapl
expect_out "rapl +unavailable: .*energy_uj: '12ab' is not a number" "garbage in a sensor file is named"

run env EDGELM_SYSFS_ROOT="$P/hwmon" "$ELM" probe --power hwmon --json
expect_out '"channels":\["power_meter/power1","ina219/VBUS"\]' "hwmon channels"

run env EDGELM_VCGENCMD="$P/rpi5/vcgencmd" EDGELM_SYSFS_ROOT="$P/rpi5" "$ELM" probe --power rpi5
expect_rc 0 "probe with a Pi 5 PMIC"
expect_out "rpi5 +available: .*EXT5V has no current sensor, so board input is underestimated" "EXT5V caveat"
expect_out "^  raspberry pi +Raspberry Pi 5 Model B" "Pi model"

run env EDGELM_VCGENCMD="$P/rpi5/vcgencmd" "$ELM" probe --power rpi5 --sample 0.25
expect_rc 0 "sample the Pi 5 PMIC"
expect_out "^sample: 0\.[0-9]+ s at 100 ms" "Pi 5 default interval 100 ms"
expect_out "rpi5 +energy [0-9.]+ J, avg 2\.630 W, peak 2\.630 W" "PMIC power = sum of A x V"

run "$ELM" probe --watts 5 --sample 0.1 --interval 10
expect_rc 0 "sample a constant"
expect_out "constant +energy 0\.[0-9]+ J, avg 5\.000 W, peak 5\.000 W" "constant integrates to 5 W"

run env EDGELM_SYSFS_ROOT="$P/x86" "$ELM" probe --power estimate --tdp 15 --sample 0.05 --json
expect_rc 0 "estimate when asked"
expect_out '"source":"estimate","available":true,"detail":"ESTIMATED' "estimate labelled in the list"
expect_out '"sources":\[\{"source":"estimate","estimated":true' "estimate labelled in the sample"

run "$ELM" probe --power-cmd "echo 3.5 W" --power cmd --sample 0.05
expect_rc 0 "an external meter command"
expect_out "cmd +energy [0-9.]+ J, avg 3\.500 W" "command watts"

run env EDGELM_SYSFS_ROOT="$EMPTY" "$ELM" probe --sample 0.05
expect_rc 1 "sampling with no source"
expect_err "no power source is available here" "says there is nothing to sample"

run env EDGELM_SYSFS_ROOT="$EMPTY" "$ELM" probe --power rapl --sample 0.05
expect_rc 1 "sampling an unavailable source"
expect_err "cannot sample with rapl: .*powercap" "names the source and the reason"

# Permission denied: root ignores file modes, so the check only runs as a normal user.
mkdir -p "$TMP/rapl" && cp -a "$P/rapl/." "$TMP/rapl/"
chmod 000 "$TMP/rapl/sys/class/powercap/intel-rapl:0/energy_uj"
if [ "$(id -u)" = 0 ]; then
  echo "SKIPPED: permission-denied check: running as root, which ignores file modes"
else
  run env EDGELM_SYSFS_ROOT="$TMP/rapl" "$ELM" probe --power rapl
  expect_out "rapl +unavailable: .*energy_uj: permission denied \(energy_uj is root-only" "unreadable as non-root: said so"
fi
chmod 644 "$TMP/rapl/sys/class/powercap/intel-rapl:0/energy_uj"

run "$ELM" probe --power bogus
expect_rc 2 "unknown source"
expect_err "unknown power source 'bogus'" "names the source"
run "$ELM" probe --interval 5
expect_rc 2 "interval below 10 ms"
expect_err "--interval 5: must lie in \[10, 3600000\]" "says the minimum"
run "$ELM" probe --power estimate
expect_rc 2 "estimate without a TDP"
expect_err "needs --tdp" "says what is missing"
run "$ELM" probe --sample -1
expect_rc 2 "negative sample time"
expect_err "--sample -1: must lie in \(0, 3600\]" "says the range"
run "$ELM" probe --watts 0
expect_rc 2 "zero watts"
expect_err "--watts 0: must lie in \(0, 1000000\]" "says the range"
run "$ELM" probe --frob
expect_rc 2 "unknown option"
expect_err "unknown option '--frob'" "names the option"

finish
