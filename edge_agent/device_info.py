"""What this device is and can do: the facts behind `info` (and inside each bench report).

Read from /proc and /sys where Linux shows them, and `vcgencmd` on a Raspberry
Pi. Every fact is optional: a missing file gives null, never an error. It
imports neither numpy nor a runtime (their versions come from package
metadata, `runtime_meta`): `info` is the agent's cheapest answer, and it must
work without them, so the studio can name what is missing.
"""

from __future__ import annotations

import os
import sys

from edge_agent import __version__, layout, runtime_meta

TYPE_CHECKING = False  # typing is not imported at run time: `info` is the cold-start path
if TYPE_CHECKING:
    from typing import Any, Dict, Optional


def runtime_facts() -> Optional[Dict[str, Any]]:
    """Returns {"name","version","compat_version","flex_delegate"} of the runtime, or None.

    The runtime and its version are read from package metadata: neither numpy
    nor the runtime is imported here. `flex_delegate` (can it run TensorFlow
    ops?) needs the runtime itself: it is asked once of a runtime child and
    cached (see `flex_probe`); None when that child did not answer.
    """
    from edge_agent.flex_probe import flex_delegate

    found = runtime_meta.installed_runtime()
    if found is None:
        return None
    return {**found, "flex_delegate": flex_delegate(found, numpy_version())}


def numpy_version() -> Optional[str]:
    """Returns the installed numpy's version (from its metadata), or None without numpy."""
    return runtime_meta.installed_version("numpy")


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return None


def cpu_model() -> Optional[str]:
    """Returns the CPU's model name (x86 'model name', or a board's 'Model'/'Hardware')."""
    text = _read("/proc/cpuinfo") or ""
    found: Dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "model", "hardware", "cpu model") and value.strip():
            found.setdefault(key, value.strip())
    for key in ("model name", "model", "hardware", "cpu model"):
        if key in found:
            return found[key]
    import platform  # only where /proc/cpuinfo names no model

    return platform.processor() or None


def cpu_governor() -> Optional[str]:
    """Returns cpu0's cpufreq governor, or None where /sys does not show it."""
    return _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")


def cpu_freq_mhz() -> Optional[float]:
    """Returns cpu0's current frequency in MHz (cpufreq, else /proc/cpuinfo), or None."""
    khz = _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")
    if khz and khz.isdigit():
        return round(int(khz) / 1000.0, 1)
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        if line.lower().startswith("cpu mhz"):
            try:
                return round(float(line.split(":", 1)[1]), 1)
            except ValueError:
                return None
    return None


def thermal_c() -> Optional[float]:
    """Returns the hottest thermal zone in degrees C, or None where none is exposed."""
    temps = []
    try:
        zones = [z for z in os.listdir("/sys/class/thermal") if z.startswith("thermal_zone")]
    except OSError:
        zones = []
    for zone in zones:
        raw = _read(f"/sys/class/thermal/{zone}/temp")
        if raw and raw.lstrip("-").isdigit():
            temps.append(int(raw) / 1000.0)
    return round(max(temps), 1) if temps else None


def throttling() -> Optional[Dict[str, Any]]:
    """Returns the platform's throttling state, or None where it exposes none.

    A Raspberry Pi answers `vcgencmd get_throttled` (bit 0: under-voltage now,
    bit 2: throttled now); elsewhere a cpufreq max below the hardware max shows
    a capped CPU.
    """
    vcgencmd = _which("vcgencmd")
    if vcgencmd:
        import subprocess  # only on a Raspberry Pi

        try:
            out = subprocess.run(
                [vcgencmd, "get_throttled"], capture_output=True, text=True, timeout=3
            ).stdout.strip()
            value = int(out.split("=", 1)[1], 16)
            return {
                "source": "vcgencmd",
                "raw": out,
                "throttled_now": bool(value & 0x4),
                "under_voltage_now": bool(value & 0x1),
                "throttled_since_boot": bool(value & 0x40000),
            }
        except (OSError, subprocess.SubprocessError, ValueError, IndexError):
            pass
    cur_max = _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_max_freq")
    hw_max = _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    if cur_max and hw_max and cur_max.isdigit() and hw_max.isdigit():
        return {"source": "cpufreq", "throttled_now": int(cur_max) < int(hw_max)}
    return None


def _which(program: str) -> Optional[str]:
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(directory or ".", program)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def disk_free_bytes(home: Any) -> Optional[int]:
    """Returns free bytes on the filesystem of `home` (or its nearest existing parent)."""
    probe = str(home)
    while not os.path.exists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    try:
        st = os.statvfs(probe)
    except OSError:
        return None
    return int(st.f_bavail * st.f_frsize)  # what shutil.disk_usage calls "free"


def device_info(home: Any, active: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """Returns the contract's `info` object (every fact may be null); `home` is a str or Path."""
    uname = os.uname()
    return {
        "agent_version": __version__,
        "runtime": runtime_facts(),
        "python": ".".join(str(n) for n in sys.version_info[:3]),
        "numpy": numpy_version(),
        "arch": uname.machine,
        "system": uname.sysname,
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "cpu_governor": cpu_governor(),
        "cpu_freq_mhz": cpu_freq_mhz(),
        "throttling": throttling(),
        "thermal_c": thermal_c(),
        "home": str(home),
        "disk_free_bytes": disk_free_bytes(home),
        "active": active,
    }


def home_info(home: str) -> Dict[str, Any]:
    """Returns the `info` answer for the agent home `home`: the device's facts, the active
    model, the uploads waiting in the inbox, the stored models and the agent service."""
    from edge_agent.servicestate import brief

    stored = layout.stored_models(home)
    return {
        **device_info(home, layout.active_ref(home)),
        "partials": layout.partials(home),
        "models_stored": len(stored),
        "stored_models": stored,
        "rollback_target": layout.rollback_target(home),
        "service": brief(home),
    }
