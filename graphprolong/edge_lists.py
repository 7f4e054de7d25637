"""Text edge lists: the graph files that :func:`~graphprolong.lineages.parse_graph_spec` reads."""

from __future__ import annotations

import os
import re
from pathlib import Path

import networkx as nx

__all__ = ["read_edge_list"]


def read_edge_list(path: str | os.PathLike) -> nx.Graph:
    """Read a graph from a text edge list: one edge a line, ``u v`` or ``u v weight``.

    Vertex labels that are integers are read as ``int``, others as ``str``;
    ``#`` starts a comment, blank lines are skipped.  The graph is named after
    ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        A UTF-8 text file.

    Returns
    -------
    networkx.Graph
        The graph of the listed edges (with ``weight`` where given).

    Raises
    ------
    ValueError
        When the file cannot be read, is not UTF-8 text, has a line that is not
        ``u v`` or ``u v weight``, a weight that is not a number, or no edges.
    """
    path = Path(path)
    graph = nx.Graph(name=str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{path} is not a text edge list (lines 'u v' or 'u v weight', UTF-8): byte {error.start} is not UTF-8 text"
        ) from None
    except OSError as error:
        raise ValueError(f"cannot read the edge-list file {path}: {error.strerror or error}") from None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) not in (2, 3):
            raise ValueError(
                f"edge-list line {number} of {path} must be 'u v' or 'u v weight'; got {raw!r}"
            )
        u, v = (int(x) if re.fullmatch(r"-?\d+", x) else x for x in fields[:2])
        if len(fields) == 3:
            try:
                weight = float(fields[2])
            except ValueError:
                raise ValueError(f"edge-list line {number} of {path}: weight must be a number; got {fields[2]!r}") from None
            graph.add_edge(u, v, weight=weight)
        else:
            graph.add_edge(u, v)
    if graph.number_of_nodes() == 0:
        raise ValueError(f"edge-list file {path} has no edges; a graph needs at least one vertex")
    return graph
