"""Telling citizens about their tickets: status notices and the satisfaction question (issue 15, part 2).

- models.py: the notification queue (an outbox), platform status events, satisfaction surveys,
  browsers seen on the chat page;
- channels.py: who is told where (WeChat, the chat page, SMS) and the texts (domain.yml responses);
- sms.py: the SMS gateway client (XIAOAN_SMS_URL, XIAOAN_SMS_TOKEN);
- delivery.py: the worker that sends what is due, with retries and fall-backs;
- surveys.py: satisfaction answers (one per ticket) from every channel;
- web.py: the chat page's notices and answers, the SMS gateway's inbound replies.
"""
