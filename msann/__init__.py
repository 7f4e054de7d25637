"""msann: multilevel training of neural networks with graph-designed transfer operators.

MsANN hierarchies (Scott & Mjolsness), FAS multilevel-in-width (Ponce et
al.) and MG/Opt (Nash; Kreis) share one machinery (:mod:`msann.core`:
levels, one transfer operator, one smoothing step, the gamma-cycle driver);
the methods are in :mod:`msann.methods`, the coarsenings in
:mod:`msann.coarsening`, and the graph-designed prolongations between layer
widths come from :mod:`graphprolong`.
"""

__version__ = "0.1.0"
