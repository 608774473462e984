"""Issue A end to end: signed webhooks in, replies out through the fake Twilio, over real HTTP."""
from __future__ import annotations

import time

import pytest

from storage import ledger
from tests.fakes.openai_server import message_text, say
from tests.fixtures.app import wait_until

pytestmark = pytest.mark.slow
ALICE, BOB = "+5511999990001", "+5511999990002"


def test_ack_is_immediate_while_the_model_is_still_thinking(live_app, openai_server, twilio_server):
    openai_server.on("olá", say("Oi! Como posso ajudar?"), delay=2.0)
    started = time.monotonic()
    response = live_app.send(ALICE, "olá")
    acked = time.monotonic() - started
    assert response.status_code == 200
    assert "<Response" in response.text and "<Message" not in response.text
    assert acked < 1.0, f"ack took {acked:.2f}s while the model held its answer"
    assert twilio_server.messages() == []
    sent = twilio_server.wait_for(1, to=f"whatsapp:{ALICE}", timeout=15)
    assert sent[0].body == "Oi! Como posso ajudar?"
    assert sent[0].from_ == live_app.config.twilio_whatsapp_number


@pytest.mark.parametrize("signature", [False, "bm90LWEtdmFsaWQtc2lnbmF0dXJl"])
def test_bad_or_missing_signature_is_refused_and_nothing_is_stored(live_app, twilio_server, signature):
    response = live_app.send(ALICE, "olá", signature=signature)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "bad_signature"
    assert ledger.backlog(live_app.services.db).counts == {}
    assert live_app.services.chatlog.count() == 0
    time.sleep(0.3)
    assert twilio_server.messages() == []


def test_signature_is_checked_against_public_base_url(make_live_app, twilio_server):
    live = make_live_app(PUBLIC_BASE_URL="https://assistente.example.ngrok.app")
    assert live.send(ALICE, "oi").status_code == 200
    from tests.fixtures.app import inbound_form, sign
    import requests
    form = inbound_form(ALICE, "oi de novo")
    wrong = sign(f"{live.url}/whatsapp", form)
    assert requests.post(f"{live.url}/whatsapp", data=form, headers={"X-Twilio-Signature": wrong}).status_code == 403
    twilio_server.wait_for(1, timeout=10)


def test_a_repeated_message_sid_is_answered_once(live_app, twilio_server):
    first = live_app.send(ALICE, "uma vez só", sid="SMduplicate0001")
    second = live_app.send(ALICE, "uma vez só", sid="SMduplicate0001")
    assert first.status_code == second.status_code == 200
    live_app.wait_idle()
    time.sleep(0.3)
    assert [m.body for m in twilio_server.messages()] == ["Eco: uma vez só"]


def test_one_sender_in_order_while_another_runs_in_parallel(live_app, openai_server, twilio_server):
    for n in (1, 2, 3):
        openai_server.on(f"^alice {n}$", say(f"resposta {n}"), delay=0.8)
    openai_server.on("^bob$", say("resposta bob"))
    for n in (1, 2, 3):
        assert live_app.send(ALICE, f"alice {n}").status_code == 200
    assert live_app.send(BOB, "bob").status_code == 200
    alice = twilio_server.wait_for(3, to=f"whatsapp:{ALICE}", timeout=20)
    bob = twilio_server.wait_for(1, to=f"whatsapp:{BOB}", timeout=5)
    assert [m.body for m in alice] == ["resposta 1", "resposta 2", "resposta 3"]
    assert bob[0].monotonic < alice[1].monotonic, "Bob waited behind Alice's queue"
    assert alice[0].monotonic < alice[1].monotonic < alice[2].monotonic


def test_a_turn_left_processing_by_a_crash_is_finished_after_restart(make_live_app, twilio_server):
    crashed = make_live_app(start_worker=False)
    assert crashed.send(ALICE, "mensagem antes do crash").status_code == 200
    entry = ledger.list_waiting(crashed.services.db, with_processing=True)[0]
    ledger.claim(crashed.services.db, [entry.id])
    assert ledger.get_entry(crashed.services.db, entry.id).status == "processing"
    restarted = make_live_app()
    sent = twilio_server.wait_for(1, to=f"whatsapp:{ALICE}", timeout=15)
    assert sent[0].body == "Eco: mensagem antes do crash"
    assert wait_until(lambda: ledger.get_entry(restarted.services.db, entry.id).status == "done")


def test_a_turn_a_crash_left_mid_send_is_failed_after_restart_never_answered_twice(make_live_app, twilio_server,
                                                                                  openai_server):
    crashed = make_live_app(start_worker=False)
    entry_id = ledger.add_to_ledger(crashed.services.db, "SMmidsend0001", ALICE, "resposta que talvez já saiu")
    ledger.claim(crashed.services.db, [entry_id])
    ledger.mark_sending(crashed.services.db, [entry_id])  # the crash came after the first part left
    restarted = make_live_app()
    assert wait_until(lambda: ledger.get_entry(restarted.services.db, entry_id).status == "failed")
    assert ledger.get_entry(restarted.services.db, entry_id).error == ledger.INTERRUPTED_WHILE_SENDING
    restarted.send(ALICE, "depois")
    assert [m.body for m in twilio_server.wait_for(1, to=f"whatsapp:{ALICE}", timeout=15)] == ["Eco: depois"]
    assert len(openai_server.chat_requests()) == 1, "the interrupted turn was not run again"


def test_model_server_error_gives_an_apology_not_the_error(live_app, openai_server, twilio_server):
    openai_server.fail_status = 500
    live_app.send(ALICE, "me ajuda com uma coisa")
    sent = twilio_server.wait_for(1, to=f"whatsapp:{ALICE}", timeout=30)
    body = " ".join(m.body for m in sent)
    assert "indisponível" in body
    assert "scripted failure" not in body and "500" not in body
    assert wait_until(lambda: ledger.backlog(live_app.services.db).counts == {"done": 1})
    openai_server.fail_status = None
    live_app.send(ALICE, "e agora?")
    twilio_server.wait_for(2, to=f"whatsapp:{ALICE}", timeout=15)
    history = str(openai_server.chat_requests()[-1]["messages"])
    assert "scripted failure" not in history, "a failed run leaked into the model's history"


def test_the_second_message_carries_the_first_exchange(live_app, openai_server, twilio_server):
    openai_server.on("meu nome é", say("Prazer, Ana!"))
    live_app.send(ALICE, "meu nome é Ana")
    twilio_server.wait_for(1, timeout=10)
    live_app.send(ALICE, "qual é o meu nome?")
    twilio_server.wait_for(2, timeout=10)
    last = openai_server.chat_requests()[-1]["messages"]
    texts = [(m["role"], message_text(m)) for m in last]
    assert ("user", "meu nome é Ana") in texts
    assert ("assistant", "Prazer, Ana!") in texts
    assert texts[-1] == ("user", "qual é o meu nome?")


def test_a_long_answer_arrives_as_ordered_chunks(live_app, openai_server, twilio_server):
    sentences = [f"Frase número {i:03d} de uma resposta longa." for i in range(1, 200)]
    long_answer = " ".join(sentences)[:4000]
    long_answer = long_answer[:long_answer.rfind(".") + 1]
    assert 3200 < len(long_answer) <= 4000
    openai_server.on("texto longo", say(long_answer))
    live_app.send(ALICE, "texto longo por favor")
    sent = twilio_server.wait_for(3, to=f"whatsapp:{ALICE}", timeout=15)
    time.sleep(0.3)
    sent = twilio_server.messages(to=f"whatsapp:{ALICE}")
    assert len(sent) == 3
    assert all(len(m.body) <= 1600 for m in sent)
    assert " ".join(m.body for m in sent) == long_answer
    assert all(m.body.endswith(".") for m in sent)


def test_inbound_and_outbound_are_in_the_chat_log(live_app, twilio_server):
    live_app.send(ALICE, "registre isto", sid="SMchatlog0001")
    (sent,) = twilio_server.wait_for(1, timeout=10)
    assert wait_until(lambda: live_app.services.chatlog.count(ALICE) == 2)
    out, inbound = live_app.services.chatlog.list(phone=ALICE).items
    assert (inbound.direction, inbound.body, inbound.message_id) == ("in", "registre isto", "SMchatlog0001")
    assert (out.direction, out.body, out.message_id) == ("out", "Eco: registre isto", sent.sid)
    received_at = ledger.get_by_sid(live_app.services.db, "SMchatlog0001").received_at
    assert abs((inbound.created_at - received_at).total_seconds()) < 0.002, "the inbound line keeps its arrival time"
    assert out.created_at >= inbound.created_at


def test_a_reply_twilio_refuses_leaves_the_inbound_line_and_a_failed_row(live_app, twilio_server):
    twilio_server.fail_next(1, status=400, code=21211, message="Invalid 'To' Phone Number")
    live_app.send(ALICE, "isto não vai sair", sid="SMchatlog0002")
    assert wait_until(lambda: ledger.get_by_sid(live_app.services.db, "SMchatlog0002").status == "failed")
    live_app.wait_idle()
    entry = ledger.get_by_sid(live_app.services.db, "SMchatlog0002")
    assert "reply not delivered" in entry.error
    assert [(m.direction, m.body) for m in live_app.services.chatlog.list(phone=ALICE).items] == [
        ("in", "isto não vai sair")]
    assert twilio_server.messages(to=f"whatsapp:{ALICE}") == []


def test_a_reply_twilio_took_but_whose_answer_was_garbled_is_not_sent_again(live_app, twilio_server):
    """Twilio accepted the message but its answer came back cut short: the message may have gone
    out, so the turn ends failed, never retried into a second copy of the reply."""
    twilio_server.garble_next(1)
    live_app.send(ALICE, "resposta truncada", sid="SMgarbled0001")
    assert wait_until(lambda: ledger.get_by_sid(live_app.services.db, "SMgarbled0001").status == "failed")
    live_app.wait_idle()
    time.sleep(1.5)  # longer than the dispatcher's pause before a retry
    assert [m.body for m in twilio_server.messages(to=f"whatsapp:{ALICE}")] == ["Eco: resposta truncada"]
    assert "answer could not be read" in ledger.get_by_sid(live_app.services.db, "SMgarbled0001").error


def test_stored_runs_leave_the_system_prompt_out_and_history_still_works(live_app, openai_server, twilio_server):
    openai_server.on("primeira", say("Resposta um."))
    openai_server.on("segunda", say("Resposta dois."))
    live_app.send(ALICE, "primeira pergunta")
    twilio_server.wait_for(1, to=f"whatsapp:{ALICE}", timeout=15)
    live_app.send(ALICE, "segunda pergunta")
    twilio_server.wait_for(2, to=f"whatsapp:{ALICE}", timeout=15)
    live_app.wait_idle()
    runs, _ = live_app.services.session_db.get_runs(session_id=ALICE, deserialize=False)
    assert len(runs) == 2
    stored_roles = [m["role"] for run in runs for m in run["run_data"]["messages"]]
    assert not {"system", "developer"} & set(stored_roles) and stored_roles.count("user") == 2
    second = openai_server.chat_requests()[-1]["messages"]
    assert [m["role"] for m in second][1:] == ["user", "assistant", "user"]
    assert second[0]["role"] in ("system", "developer") and "WhatsApp" in message_text(second[0])
    assert message_text(second[1]) == "primeira pergunta" and message_text(second[2]) == "Resposta um."


def test_session_memory_is_trimmed_and_history_stays_in_order(make_live_app, openai_server, twilio_server):
    live = make_live_app(HISTORY_RUNS="2", SESSION_MAX_RUNS="4")
    for i in range(1, 10):
        live.send(ALICE, f"mensagem {i}")
        twilio_server.wait_for(i, to=f"whatsapp:{ALICE}", timeout=15)
        live.wait_idle()
        if i >= 3:
            history = [message_text(m) for m in openai_server.chat_requests()[-1]["messages"][1:]]
            assert history == [f"mensagem {i - 2}", f"Eco: mensagem {i - 2}", f"mensagem {i - 1}",
                               f"Eco: mensagem {i - 1}", f"mensagem {i}"], f"turn {i}"
    runs, total = live.services.session_db.get_runs(session_id=ALICE, deserialize=False)
    assert total == 3, "trimmed to 2 at the 5th and 8th turns, then one more run"
    assert [run["run_index"] for run in runs] == [0, 1, 2]
    assert [run["run_data"]["messages"][0]["content"] for run in runs] == ["mensagem 7", "mensagem 8", "mensagem 9"]
    assert live.services.chatlog.count(ALICE) == 18, "the chat log keeps the whole conversation"


def test_the_trim_counts_stored_runs_only_once_the_bound_may_be_passed(make_live_app, openai_server, twilio_server):
    from sqlalchemy import event

    live = make_live_app(HISTORY_RUNS="2", SESSION_MAX_RUNS="4")
    counts: list[str] = []
    engine = live.services.session_db.db_engine

    def note(_conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith("SELECT COUNT"):
            counts.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        seen = []
        for i in range(1, 7):
            live.send(ALICE, f"mensagem {i}")
            twilio_server.wait_for(i, to=f"whatsapp:{ALICE}", timeout=15)
            live.wait_idle()
            seen.append(len(counts))
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert seen == [0, 0, 0, 0, 1, 1], "no count while the session holds at most 4 runs; the 5th turn trims to 2"
    assert live.services.session_db.get_runs(session_id=ALICE, deserialize=False)[1] == 3
