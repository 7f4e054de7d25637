"""msann: multilevel training of neural networks with graph-designed transfer operators.

MsANN hierarchies (Scott & Mjolsness), FAS multilevel-in-width (Ponce et al.)
and MG/Opt (Kreis) share one hierarchy abstraction and one gamma-cycle
scheduler (:mod:`msann.multilevel`); the prolongations between layer widths
come from :mod:`graphprolong`.
"""

__version__ = "0.1.0"
