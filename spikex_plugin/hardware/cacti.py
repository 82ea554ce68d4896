"""Make the CACTI binary that hwcomponents-cacti calls runnable on this machine.

hwcomponents-cacti 1.0.40 ships a prebuilt ``hwcomponents_cacti/cacti/cacti`` linked
against glibc 2.38 / GLIBCXX_3.4.32. On older systems (Debian 12: glibc 2.36) the dynamic
loader refuses to start it, and every SRAM query fails with "CACTI failed with exit code
1". The wheel also ships CACTI's C++ source and makefile next to the binary, so
:func:`ensure_cacti` rebuilds the binary in place with the machine's compiler (~15 s).

hwcomponents-cacti runs ``./cacti -infile <cfg>`` with the ``cacti/`` folder as working
directory and reads the CSV CACTI appends to ``<cfg>.out``; nothing else needs patching.

Smoke check: ``python -m spikex_plugin.hardware.cacti`` rebuilds if needed and prints the
32 nm SRAM energies the SpikeX buffers use (after a rebuild on Debian 12 / g++ 12: 54 KB
read 13.4 pJ, write 9.97 pJ; 2 KB read 1.49 pJ, 64-bit port).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

BUILD_TIMEOUT_S = 600
_USAGE_MARKER = "how to use CACTI"


def cacti_dir() -> Path:
    """The folder holding hwcomponents-cacti's CACTI binary, source and makefile."""
    import hwcomponents_cacti

    return Path(hwcomponents_cacti.__file__).resolve().parent / "cacti"


def cacti_runs(binary: Path) -> bool:
    """Whether ``binary`` starts. Run with no arguments, a working CACTI prints its
    usage to stderr and exits at once; one the dynamic loader rejects (missing GLIBC
    symbol versions) never reaches main() and prints only the loader's error."""
    try:
        result = subprocess.run(
            [str(binary)], cwd=binary.parent, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return _USAGE_MARKER in result.stderr


def _find_cxx() -> str | None:
    candidates = (os.environ.get("CXX"), "g++", "c++", "clang++")
    return next((c for c in candidates if c and shutil.which(c)), None)


def ensure_cacti(verbose: bool = False) -> Path:
    """Return the path of a CACTI binary that runs here, rebuilding it if needed.

    The rebuild deletes the stale ``obj_dbg/`` objects and runs the bundled makefile
    under an exclusive file lock, so concurrent processes build once and the others
    wait for that build.

    Raises
    ------
    RuntimeError
        If ``make`` or a C++ compiler is missing, the package folder is not writable,
        or the build fails or times out.
    """
    directory = cacti_dir()
    binary = directory / "cacti"
    if cacti_runs(binary):
        return binary

    if shutil.which("make") is None:
        raise RuntimeError(
            f"The CACTI binary in {directory} does not run on this machine and cannot "
            "be rebuilt: 'make' is not installed (Debian/Ubuntu: apt-get install make g++)."
        )
    cxx = _find_cxx()
    if cxx is None:
        raise RuntimeError(
            f"The CACTI binary in {directory} does not run on this machine and cannot "
            "be rebuilt: no C++ compiler (g++, c++ or clang++, or $CXX) was found "
            "(Debian/Ubuntu: apt-get install g++)."
        )
    if not os.access(directory, os.W_OK):
        raise RuntimeError(
            f"The CACTI binary in {directory} does not run on this machine and that "
            "folder is not writable; rerun once with write access to rebuild it."
        )

    with open(directory / ".spikex_rebuild.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if cacti_runs(binary):  # another process rebuilt it while we waited
                return binary
            if verbose:
                print(f"Rebuilding CACTI in {directory} with {cxx} ...", flush=True)
            shutil.rmtree(directory / "obj_dbg", ignore_errors=True)
            binary.unlink(missing_ok=True)
            try:
                build = subprocess.run(
                    ["make", f"-j{os.cpu_count() or 1}", f"CXX={cxx}"],
                    cwd=directory,
                    capture_output=True,
                    text=True,
                    timeout=BUILD_TIMEOUT_S,
                )
            except subprocess.TimeoutExpired:
                raise RuntimeError(
                    f"Rebuilding CACTI in {directory} took over {BUILD_TIMEOUT_S} s."
                ) from None
            if build.returncode != 0 or not cacti_runs(binary):
                raise RuntimeError(
                    f"Rebuilding CACTI in {directory} failed (make exit code "
                    f"{build.returncode}):\n{build.stderr[-2000:]}"
                )
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    if verbose:
        print(f"CACTI rebuilt: {binary}", flush=True)
    return binary


def _main() -> None:
    from hwcomponents_cacti import SRAM

    print(f"CACTI binary: {ensure_cacti(verbose=True)}")
    for kbytes in (54, 2):
        bits = kbytes * 1024 * 8
        sram = SRAM(tech_node=32e-9, width=64, depth=bits // 64, size=bits)
        print(
            f"SRAM {kbytes} KB, 64-bit port, 32 nm: read {sram.read().energy * 1e12:.3f} pJ, "
            f"write {sram.write().energy * 1e12:.3f} pJ, area {sram.area * 1e12:.0f} um^2, "
            f"leak {sram.leak_power * 1e6:.3f} uW"
        )


if __name__ == "__main__":
    _main()
