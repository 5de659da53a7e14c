"""Tickets: complaints and reports as routed work orders (models, numbering, routing, due dates,
forwarding outbox, CLI). The form actions call `xiaoan.tickets.service.get_ticket_service()`;
see docs/tickets-interface.md."""
