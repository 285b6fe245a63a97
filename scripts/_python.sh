# Sourced by the scripts: find_python VERSION prints a working interpreter of that version, or nothing.
# pyenv's shims answer `command -v` for versions they will not run, so every candidate is tried.
find_python() {
    local version=$1 candidate
    local candidates=("python$version")
    if command -v pyenv >/dev/null 2>&1; then
        candidates=("$(pyenv root)"/versions/"$version"*/bin/python"$version" "${candidates[@]}")
    fi
    for candidate in "${candidates[@]}"; do
        if "$candidate" -c 'import sys' >/dev/null 2>&1; then
            command -v "$candidate" 2>/dev/null || echo "$candidate"
            return 0
        fi
    done
    return 0
}

# setup_venv VENV EXTRAS: creates VENV with ${PYTHON:-Python 3.13, else python3} and installs awspar[EXTRAS].
setup_venv() {
    local venv=$1 extras=$2
    local python=${PYTHON:-$(find_python 3.13)}
    python=${python:-python3}
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet -e ".[$extras]"
    # An editable install leaves awspar's own modules uncompiled; with PYTHONDONTWRITEBYTECODE set
    # every process and every fresh subinterpreter would compile them again (a pip install compiles).
    "$venv/bin/python" -m compileall -q awspar >/dev/null
}
