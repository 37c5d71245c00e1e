"""Implementation tracking: actions, indicators, progress, comments, roll-ups and the
mid-term report (resolution 21/21 paras 8, 10, 13, 14, 16).

Rules that live here and nowhere else: who may see an action or a report (the needs'
consent rule, `service.access.visibility.visible_actions` / `visible_progress_reports`),
who may change them (their State's focal points), who may comment (NHRIs and civil
society), which recommendations an action may cluster (those addressed to its State), and
how statuses roll up (`rollups.py`).
"""
