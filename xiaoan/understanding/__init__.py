"""Understanding citizens in context: value parsers, typed choices, long letters.

The intent classifier decides without the conversation; this package supplies what needs the
context first (issue 10): when a form has asked for a slot, the reply is parsed as a value of
that slot's type before any intent is trusted; a typed reply is matched against the buttons
last offered; a long letter is read as a whole.

Modules (each pure Python, no Rasa import, with its own tests in tests/unit/understanding/):

- ``names``      personal names (surname table, compound surnames, 我叫/姓X/X先生, minority names)
- ``phones``     mobile and Shanghai landline numbers in any typed form
- ``money``      amounts (两千五, 6千8, 2.5万, 3k, 1,350元 ...)
- ``dates``      dates relative to today (上个月, 去年12月, 3号 ...)
- ``merchants``  merchant names kept whole (registered names, branches in brackets, shop signs)
- ``addresses``  addresses with the district inferred
- ``slots``      one entry point: ``parse_slot_value(slot, text)`` for the form's requested slot
- ``interruptions``  whether a reply is an explicit interruption (cancel, human, question)
- ``choices``    typed reply -> payload of the buttons last offered (every channel)
- ``letters``    long first messages: kind and the fields a ticket needs
"""
