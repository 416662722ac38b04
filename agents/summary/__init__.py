"""The owners' weekly summary: Friday 17:00 in the workspace's time zone, HTML email + PDF.

periods: which week is due and which seven days it covers; selectors: the aggregate numbers;
render: HTML, text and PDF; services: the once-per-week send.
"""
