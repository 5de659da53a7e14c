"""Supervision: figures of what citizens ask (`stats`) and merchant early warning (`alerts`),
shown to supervisors at /console/stats (`console`) and by `xiaoan alerts` (`cli`)."""
