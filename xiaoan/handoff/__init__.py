"""Human handoff: the queue of conversations waiting for an agent, the agents' inbox, callbacks.

The assistant (`actions/handoff.py`) puts a conversation in the queue and pauses it in Rasa;
the inbox (`xiaoan.handoff.inbox`) lets an agent take it, reply through the Rasa HTTP API and
hand it back. `xiaoan.handoff.service.get_handoff_service()` is the entry point.
"""
