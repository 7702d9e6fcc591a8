"""``mndt twin build``: OSM city (or Sionna scene) → scene → ray-traced radio maps → summary + PNG.

Examples::

    mndt twin build                                  # the bundled Helsinki clip (preset "helsinki")
    mndt twin build --osm mycity.osm.pbf             # your own OpenStreetMap extract (.osm, .osm.bz2, .osm.pbf)
    mndt twin build --scene sionna:munich            # a Sionna RT built-in scene
    mndt twin build --osm mycity.osm --sites sites.csv
    mndt twin build --json > summary.json            # machine-readable summary (progress on stderr)

Without ``--sites`` the macro sites go on rooftops: ``sites.isd_m`` (350 m) sets their number
from the area, masts ``sites.mast_above_roof_m`` (15 m) above a roof edge. Warnings of the build
(repaired ways, antennas below a roof) become one-line notes under the summary.

Outputs under ``--out`` (default ``runs/twin-<name>``): ``summary.json``, ``sites.csv``,
``radio_maps.npz`` (per-transmitter path gain [dB]), ``best_server_rsrp.png`` and, for
OSM sources, the Mitsuba scene (``scene/scene.xml`` + PLY meshes).
"""

from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    import numpy as np

    from .config import ScenarioConfig
    from .twin.channel.raytraced import RayTracedChannel
    from .twin.geometry import CityGeometry
    from .twin.sites import Cells

__all__ = ["twin_app", "build", "plot_best_server", "scenario_for"]

twin_app = typer.Typer(help="Build a city twin: OSM geometry, scene, ray-traced radio maps.", no_args_is_help=True,
                       add_completion=False)
console = Console()


def scenario_for(osm: Path | None, scene: str | None, preset: str | None, cell_size: float | None,
                 rays: int | None, max_depth: int | None, n_sites: int | None) -> tuple[ScenarioConfig, str]:
    """The scenario of a build request and its short name.

    ``--osm``/``--scene`` take the ``helsinki`` preset's radio and site settings over the
    new source; the area is the city's extent (set after loading the geometry).
    """
    from .config import ConfigError, make_config

    given = [x for x in (osm, scene, preset) if x]
    if len(given) > 1:
        raise typer.BadParameter("give only one of --osm, --scene, --preset")
    ch: dict[str, Any] = {}
    if cell_size is not None:
        ch["cell_size_m"] = cell_size
    if rays is not None:
        ch["samples_per_tx"] = rays
    if max_depth is not None:
        ch["max_depth"] = max_depth
    over: dict[str, Any] = {"channel": ch} if ch else {}
    if n_sites is not None:
        over["sites"] = {"n_sites": n_sites}
    try:
        if osm is not None:
            over.setdefault("channel", {})["source"] = str(osm)
            over["name"] = Path(osm).name.split(".")[0]
            return make_config("helsinki", over), over["name"]
        if scene is not None:
            if not scene.startswith("sionna:"):
                raise typer.BadParameter(f"--scene {scene!r}: expected sionna:<name>, e.g. sionna:munich")
            over.setdefault("channel", {})["source"] = scene
            over["name"] = scene.split(":", 1)[1]
            over["users"] = {"mobility": "straight"}  # built-in scenes have no road graph
            return make_config("helsinki", over), over["name"]
        name = preset or "helsinki"
        cfg = make_config(name, over)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None
    if cfg.channel.model != "raytraced" or not cfg.channel.source:
        raise typer.BadParameter(f"--preset {name!r} has no ray-traced city (channel.source is empty)")
    return cfg, name


def _cells_for(cfg: ScenarioConfig, city: CityGeometry, sites_csv: Path | None, rng: np.random.Generator) -> Cells:
    import numpy as np

    from .twin.geometry import rooftop_sites, sites_for_area
    from .twin.sites import build_cells, sites_from_csv

    if sites_csv is not None:
        xy, h, _az = sites_from_csv(sites_csv, city, area=(cfg.width_m, cfg.height_m))
        cells = build_cells(cfg, rng, macro_xy=xy)
        n_sec = max(cfg.sites.sectors, 1)
        cells.height[: len(xy) * n_sec] = np.repeat(h, n_sec)
        return cells
    n = cfg.sites.n_sites or sites_for_area(cfg.width_m, cfg.height_m, cfg.sites.isd_m)
    xy, roof = rooftop_sites(city, n, rng, area=(cfg.width_m, cfg.height_m))
    cells = build_cells(cfg, rng, macro_xy=xy)
    n_sec = max(cfg.sites.sectors, 1)
    cells.height[: len(xy) * n_sec] = np.repeat(roof, n_sec) + cfg.sites.mast_above_roof_m
    return cells


def plot_best_server(ch: RayTracedChannel, city: CityGeometry, path: Path, title: str = "") -> dict[str, float]:
    """PNG of the best-server RSRP over the area with building outlines and sites.

    Returns:
        RSRP percentiles [dBm] over the outdoor map cells (p5, p50, p95), the share of outdoor
        cells above the coverage threshold (``rsrp_coverage_outdoor``) and the share of
        edge-neighbouring outdoor cells whose best-server RSRP jumps by > 10 dB.
    """
    import matplotlib

    from .twin.channel.raytraced import speckle_share

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    m = ch.maps
    xc, yc = m.cell_centres()
    gx, gy = np.meshgrid(xc, yc)
    xy = np.column_stack([gx.ravel(), gy.ravel()])
    cells = ch.cells
    rsrp = (cells.ref_power_dbm[:, None] + ch.gain_db(xy, np.zeros(len(xy), bool))).max(axis=0).reshape(gx.shape)
    thr = ch.cfg.radio.coverage_threshold_dbm
    out = rsrp[~m.indoor]
    fig, ax = plt.subplots(figsize=(8.5, 7.5), dpi=110)
    cs = m.cell_size
    im = ax.imshow(rsrp, origin="lower", extent=(xc[0] - cs / 2, xc[-1] + cs / 2, yc[0] - cs / 2, yc[-1] + cs / 2),
                   cmap="viridis", vmin=max(thr - 25.0, float(np.percentile(rsrp, 1))), vmax=float(rsrp.max()))
    for poly in city.buildings:
        ax.fill(*poly.exterior.xy, facecolor="none", edgecolor="white", linewidth=0.4, alpha=0.8)
    sx, sy = cells.x, cells.y
    ax.scatter(sx, sy, marker="^", s=60, c="red", edgecolors="black", zorder=3, label="sites")
    for x, y, az in zip(sx, sy, cells.azimuth_deg, strict=True):
        if not math.isnan(az):
            ax.plot([x, x + 25 * math.sin(math.radians(az))], [y, y + 25 * math.cos(math.radians(az))], "r-", lw=1)
    ax.set_xlim(0, ch.cfg.width_m)
    ax.set_ylim(0, ch.cfg.height_m)
    ax.set_xlabel("x east [m]")
    ax.set_ylabel("y north [m]")
    rt = ch.build_summary.get("ray_traced_outdoor_pairs", float("nan"))
    ax.set_title(title or f"best-server RSRP ({ch.cfg.name}); {100 * rt:.0f}% of outdoor (site, cell) pairs ray-traced")
    fig.colorbar(im, ax=ax, label="best-server RSRP [dBm]", shrink=0.85)
    ax.legend(loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return {"rsrp_p5_dbm": float(np.percentile(out, 5)) if out.size else math.nan,
            "rsrp_p50_dbm": float(np.percentile(out, 50)) if out.size else math.nan,
            "rsrp_p95_dbm": float(np.percentile(out, 95)) if out.size else math.nan,
            "rsrp_coverage_outdoor": float((out >= thr).mean()) if out.size else math.nan,
            "rsrp_jump_share_10db": speckle_share(rsrp, ~m.indoor)}


def _summary_table(summary: dict[str, Any], title: str) -> Table:
    t = Table(title=title)
    t.add_column("quantity")
    t.add_column("value", justify="right")
    for k, v in summary.items():
        if k in ("cache_key", "maps_sha256", "note", "notes", "site_heights_m"):
            continue
        if isinstance(v, float):
            v = f"{v:.4g}"
        t.add_row(k.replace("_", " "), str(v))
    return t


@twin_app.command()
def build(
    osm: Path | None = typer.Option(None, "--osm", help="OpenStreetMap file (.osm, .osm.bz2, .osm.gz, .osm.pbf)."),
    scene: str | None = typer.Option(None, "--scene", help="Sionna RT built-in scene, e.g. sionna:munich."),
    preset: str | None = typer.Option(None, "--preset", help="Scenario preset with a city (default: helsinki)."),
    sites: Path | None = typer.Option(None, "--sites", help="CSV of real sites (lat, lon[, height, azimuth])."),
    cell_size: float | None = typer.Option(None, "--cell-size",
                                           help="Radio-map cell size in metres (default 5, 10 above 1 km^2)."),
    n_sites: int | None = typer.Option(None, "--n-sites", help="Rooftop macro sites to place (without --sites)."),
    rays: int | None = typer.Option(None, "--rays", help="Rays per transmitter (default: sized to the map)."),
    max_depth: int | None = typer.Option(None, "--max-depth", help="Ray interactions (default 3)."),
    out: Path | None = typer.Option(None, "--out", help="Output directory (default runs/twin-<name>)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the rooftop site placement."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Rebuild even if the radio maps are cached."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout (progress on stderr)."),
) -> None:
    """Build a city twin: geometry, sites, scene, ray-traced radio maps; print a summary, write a PNG."""
    import numpy as np
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from .twin import backend
    from .twin.channel.raytraced import RayTracedChannel
    from .twin.geometry import GeometryError, check_area, load_city
    from .twin.memory import check_memory
    from .twin.scene import SceneError, build_scene

    cfg, name = scenario_for(osm, scene, preset, cell_size, rays, max_depth, n_sites)
    out = out or Path("runs") / f"twin-{name}"
    t0 = time.perf_counter()
    con = Console(stderr=True) if as_json else console  # --json: stdout carries the JSON alone
    if not backend.raytracing_available(warn=False):
        con.print(f"[red]ray tracing is unavailable here: {backend.describe_backends()['reason']}[/]")
        raise typer.Exit(1)
    times: dict[str, float] = {}
    try:
        with warnings.catch_warnings(record=True) as caught, \
                Progress(TextColumn("{task.description:<16}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                         TimeElapsedColumn(), console=con) as prog:
            warnings.simplefilter("always")
            tasks: dict[str, Any] = {}

            def stage(label: str, frac: float) -> None:
                if label not in tasks:
                    tasks[label] = prog.add_task(label, total=1.0)
                prog.update(tasks[label], completed=frac)

            stage("geometry", 0.0)
            check_memory(cfg)  # the OSM file's parsing, before it is read
            city = load_city(cfg.channel.source, cfg)
            if osm is not None or scene is not None:
                cfg = cfg.replace({"width_m": max(10.0, round(city.width_m, 1)),
                                   "height_m": max(10.0, round(city.height_m, 1))})
            check_area(city, cfg.width_m, cfg.height_m)
            stage("geometry", 1.0)
            times["time_geometry_s"] = round(time.perf_counter() - t0, 3)
            stage("sites", 0.0)
            t1 = time.perf_counter()
            cells = _cells_for(cfg, city, sites, np.random.default_rng(seed))
            stage("sites", 1.0)
            times["time_sites_s"] = round(time.perf_counter() - t1, 3)
            t1 = time.perf_counter()
            check_memory(cfg, n_cells=cells.n, n_tx=int(cells.n_sites))  # refuse before ray tracing allocates
            ch = RayTracedChannel.from_config(cfg, cells, city=city, use_cache=not no_cache, progress=stage)
            times["time_maps_s"] = round(time.perf_counter() - t1, 3)
            stage("outputs", 0.0)
            out.mkdir(parents=True, exist_ok=True)
            if not cfg.channel.source.startswith("sionna:"):
                build_scene(city, out / "scene")
            (out / "radio_maps.npz").write_bytes(ch.maps.to_bytes())
            stats = plot_best_server(ch, city, out / "best_server_rsrp.png")
            stage("outputs", 1.0)
    except (GeometryError, SceneError, ValueError) as exc:
        con.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    with (out / "sites.csv").open("w") as fh:
        fh.write("cell,site,x_m,y_m,height_m,azimuth_deg,tilt_deg\n")
        for i in range(cells.n):
            fh.write(f"{i},{cells.site[i]},{cells.x[i]:.2f},{cells.y[i]:.2f},{cells.height[i]:.1f},"
                     f"{cells.azimuth_deg[i]:.0f},{cells.tilt_deg[i]:.1f}\n")
    notes = list(dict.fromkeys(str(w.message).splitlines()[0] for w in caught))
    site_h = cells.height[np.unique(cells.site, return_index=True)[1]]
    summary = {
        "name": name, "source": cfg.channel.source, "area_m": [cfg.width_m, cfg.height_m],
        "sites": int(cells.n_sites), "site_heights_m": [round(float(h), 1) for h in site_h],
        "roads_nodes": city.roads.number_of_nodes(), "roads_edges": city.roads.number_of_edges(),
        "ways_truncated": city.n_ways_truncated, "ways_dropped": city.n_ways_dropped,
        "default_height_share": city.default_height_share,
        **ch.build_summary, **stats, **times, "time_cli_s": round(time.perf_counter() - t0, 2),
        "notes": notes,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    if as_json:
        typer.echo(json.dumps(summary, indent=1, default=str))
        return
    console.print(_summary_table(summary, f"twin '{name}'"))
    for line in [summary.get("note", ""), *notes]:
        if line:
            console.print(f"note: {line}", markup=False, highlight=False)
    console.print(f"outputs under [bold]{out}[/] (best_server_rsrp.png, summary.json, sites.csv, radio_maps.npz)")
