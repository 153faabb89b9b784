"""The control report (regulation 3.5.2): monthly, quarterly and annual figures."""
