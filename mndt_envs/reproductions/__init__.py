"""Paper reproductions shipped with the package, run by ``mndt reproduce table2 | breathing | lstm``.

* :mod:`.table2`: paper 002 Table II analogue (resource allocation, ``paper`` preset).
* :mod:`.breathing`: paper 001 §7 (CPICH load balancing: Static, BDBA, BFDBA) and the §6 MLP check.

Paper 000's LSTM experiments live with the traffic twin (``mndt lstm reproduce``).
"""
