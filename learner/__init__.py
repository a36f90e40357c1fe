"""netpol-learner: learn least-privilege network policies from observed flows."""
