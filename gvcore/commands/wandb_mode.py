"""Which W&B mode a sweep's trials log in (`--wandb-mode auto` = online when logged in and the
server answers, else offline), and what to tell the user about their runs afterwards. The API key is
only ever read here, never written anywhere."""

from __future__ import annotations

import netrc
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from ..errors import GVError
from ..sweep import storage as store
from .common import console

WANDB_MODES = ("auto", "online", "offline", "disabled")


def _wandb_host() -> tuple[str, int]:
    url = urlparse(os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai")
    return url.hostname or "api.wandb.ai", url.port or (443 if url.scheme == "https" else 80)


def _netrc_key(host: str) -> str | None:
    """`wandb login` stores the key in ~/.netrc; read it without asking wandb (which may go online)."""
    try:
        entry = netrc.netrc(os.environ.get("NETRC")).authenticators(host)
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return None
    return entry[2] if entry else None


def wandb_api_key() -> str | None:
    return os.environ.get("WANDB_API_KEY") or _netrc_key(_wandb_host()[0])


def resolve_wandb_mode(requested: str) -> tuple[str, str]:
    """(mode, why) for --wandb-mode; auto = online when logged in and W&B answers, else offline."""
    if requested not in WANDB_MODES:
        raise GVError(f"bad --wandb-mode '{requested}': choose one of {', '.join(WANDB_MODES)}")
    if requested != "auto":
        return requested, f"--wandb-mode {requested}"
    env_mode = os.environ.get("WANDB_MODE", "").strip().lower()
    if env_mode in ("online", "offline", "disabled"):
        return env_mode, f"WANDB_MODE={env_mode}"
    host, port = _wandb_host()
    if not wandb_api_key():
        return "offline", "not logged in to W&B (no WANDB_API_KEY, no `wandb login`)"
    if not any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")):
        # A proxy would make a direct probe meaningless; without one, don't make every trial wait
        # for wandb's init timeout against a server nobody can reach.
        try:
            socket.create_connection((host, port), timeout=3).close()
        except OSError:
            return "offline", f"W&B server {host} is unreachable"
    return "online", "logged in to W&B"


def wandb_hints(mode: str, settings, outcome) -> None:
    if mode == "disabled":
        return
    if settings.dir is None:
        pattern = store.join(outcome.sweep_dir, "*/wandb/offline-run-*")
    else:
        pattern = str(Path(settings.dir) / "wandb" / "offline-run-*")
    if outcome.wandb_fallbacks:
        console.print(
            f"[yellow]W&B was unreachable for {len(outcome.wandb_fallbacks)} trial(s); their runs were kept offline.[/]"
        )
    if mode == "offline" or outcome.wandb_fallbacks:
        console.print(f"W&B runs are offline; upload them with: wandb sync {pattern}", soft_wrap=True)


def trial_wandb(mode: str, project: str, entity: str | None, group: str, on_cluster: bool):
    """The W&B settings every trial of a sweep or study logs with (gvcore.tune.WandbSettings)."""
    from ..tune import WandbSettings

    return WandbSettings(
        mode=mode,
        project=project,
        entity=entity,
        group=group,
        dir=os.environ.get("WANDB_DIR") or None,
        # Embedded Ray's workers inherit this environment; a cluster's don't.
        api_key=wandb_api_key() if mode == "online" and on_cluster else None,
    )
