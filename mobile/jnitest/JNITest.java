// JNITest drives the gobind Java classes of parley.dev/mobile against a
// real relay, the way an Android app would, on a plain JVM: two vaults,
// both registered, a message sent by one and received by the other
// through a Java Listener that Go calls back, then a wrong PIN.
//
// Usage: java -Djava.library.path=DIR JNITest RELAY_URL CA_FILE TMP_DIR
// (mobile/jnitest/run builds DIR/libgojni.so and starts the relay).
// It exits 0 when every check passes and non-zero otherwise, and halts
// with status 3 if the whole run takes longer than two minutes.

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

import mobile.Client;
import mobile.Config;
import mobile.GroupChange;
import mobile.Keystore;
import mobile.Listener;
import mobile.Message;
import mobile.MessagePage;
import mobile.Mobile;
import mobile.Sent;
import mobile.SentList;
import mobile.StringList;
import mobile.WakeResult;

public class JNITest {
	static final byte[] PIN = "482916".getBytes(StandardCharsets.UTF_8);
	static final long TIMEOUT_MS = 30_000;
	static final long WAIT_SECONDS = 60;

	// Recorder is the app's Listener: Go calls it from its own thread.
	static final class Recorder implements Listener {
		final BlockingQueue<Message> messages = new LinkedBlockingQueue<>();
		final BlockingQueue<String> states = new LinkedBlockingQueue<>();
		final BlockingQueue<String> timers = new LinkedBlockingQueue<>();

		@Override public void onMessage(Message m) { messages.add(m); }
		@Override public void onDelivery(String messageID, String status) {}
		@Override public void onIdentityChanged(String user, boolean held) {}
		@Override public void onGroupChanged(GroupChange c) {}
		@Override public void onTimer(String user, long timerMs, boolean outgoing) {
			timers.add(user + " " + timerMs + " " + outgoing);
		}
		@Override public void onError(String message, String messageID) {
			System.err.println("listener error: " + message);
		}
		@Override public void onConnection(String state) { states.add(state); }

		void awaitState(String want) throws InterruptedException {
			long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS);
			while (System.nanoTime() < end) {
				String s = states.poll(1, TimeUnit.SECONDS);
				if (want.equals(s)) {
					return;
				}
			}
			throw new AssertionError("no onConnection(\"" + want + "\") within " + WAIT_SECONDS + " s");
		}
	}

	// HmacKeystore stands for the Android Keystore: Go calls it for a
	// secret, Java returns bytes (or throws, when the user cancels).
	static final class HmacKeystore implements Keystore {
		final byte[] key;
		volatile boolean fail;
		int calls;

		HmacKeystore(byte[] key) { this.key = key; }

		@Override public byte[] secret(byte[] input) throws Exception {
			calls++;
			if (fail) {
				throw new Exception("the user canceled the fingerprint prompt");
			}
			Mac mac = Mac.getInstance("HmacSHA256");
			mac.init(new SecretKeySpec(key, "HmacSHA256"));
			return mac.doFinal(input);
		}
	}

	static Client device(String server, String ca, File home) throws Exception {
		Config cfg = Mobile.newConfig(home.getPath());
		cfg.setServer(server);
		cfg.setCAFile(ca);
		return Mobile.newClient(cfg);
	}

	// Call is a call into Go that should fail.
	interface Call {
		void run() throws Exception;
	}

	// failsWith runs call and returns its exception's message, which must
	// start with code ("parley:wrong_pin").
	static String failsWith(String code, String what, Call call) {
		try {
			call.run();
		} catch (Exception e) {
			String msg = e.getMessage();
			check(msg != null && msg.startsWith(code + ":"), what + " raised " + e + ", want " + code);
			return msg;
		}
		throw new AssertionError(what + " succeeded, want " + code);
	}

	static void check(boolean ok, String what) {
		if (!ok) {
			throw new AssertionError(what);
		}
	}

	// main runs the checks and exits: the threads Go attached to the JVM
	// would keep it alive after a failure, so every ending halts it.
	public static void main(String[] args) {
		if (args.length != 3) {
			System.err.println("usage: JNITest RELAY_URL CA_FILE TMP_DIR");
			System.exit(2);
		}
		try {
			run(args);
		} catch (Throwable e) {
			System.err.println("FAIL: " + e);
			e.printStackTrace();
			System.err.flush();
			Runtime.getRuntime().halt(1);
		}
		System.out.println("JNITest: ok");
		System.out.flush();
		Runtime.getRuntime().halt(0);
	}

	static void run(String[] args) throws Exception {
		String server = args[0], ca = args[1];
		File tmp = new File(args[2]);

		// A watchdog: a lost callback must fail the run, not hang CI.
		Thread watchdog = new Thread(() -> {
			try {
				Thread.sleep(TimeUnit.MINUTES.toMillis(2));
			} catch (InterruptedException e) {
				return;
			}
			System.err.println("FAIL: JNITest took longer than two minutes");
			Runtime.getRuntime().halt(3);
		});
		watchdog.setDaemon(true);
		watchdog.start();

		// 1. Two vaults in a temporary directory, 2. both registered.
		Client alice = device(server, ca, new File(tmp, "alice"));
		alice.create(PIN);
		String aliceAddr = alice.register("alice", "", TIMEOUT_MS);
		Client bob = device(server, ca, new File(tmp, "bob"));
		bob.create(PIN);
		String bobAddr = bob.register("bob", "", TIMEOUT_MS);
		check(aliceAddr.startsWith("alice/") && bobAddr.startsWith("bob/"),
			"addresses " + aliceAddr + ", " + bobAddr);
		System.out.println("registered " + aliceAddr + " and " + bobAddr);

		// Bob's live connection reports to a Java Listener.
		Recorder rec = new Recorder();
		bob.setListener(rec);
		bob.start();
		rec.awaitState("online");

		// 3. Alice sends; 4. Bob's listener receives it from Go.
		String text = "Hello Bob, from Java \u2713";
		Sent sent = alice.send("bob", text, TIMEOUT_MS);
		check("sent".equals(sent.getStatus()), "send status " + sent.getStatus() + ": " + sent.getReason());
		Message got = rec.messages.poll(WAIT_SECONDS, TimeUnit.SECONDS);
		check(got != null, "no onMessage within " + WAIT_SECONDS + " s");
		check(text.equals(got.getText()), "received text " + got.getText());
		check("alice".equals(got.getContact()) && !got.getOutgoing(), "received from " + got.getContact());
		check(sent.getID().equals(got.getID()), "received ID " + got.getID() + ", sent " + sent.getID());
		System.out.println("bob's listener received " + got.getID());

		// The message is in Bob's vault: History pages it.
		MessagePage page = bob.history("alice", "", 10);
		check(page.size() == 1 && text.equals(page.get(0).getText()), "history of " + page.size());

		// A burst through SendMany: an outcome per text, delivered in order.
		StringList burst = Mobile.newStringList();
		burst.add("burst one");
		burst.add("burst two");
		SentList outcomes = alice.sendMany("bob", burst, TIMEOUT_MS);
		check(outcomes.size() == 2, "sendMany outcomes " + outcomes.size());
		for (int i = 0; i < 2; i++) {
			Sent o = outcomes.get(i);
			check("sent".equals(o.getStatus()), "sendMany outcome " + i + ": " + o.getStatus() + " " + o.getReason());
			Message m = rec.messages.poll(WAIT_SECONDS, TimeUnit.SECONDS);
			check(m != null && burst.get(i).equals(m.getText()) && o.getID().equals(m.getID()),
				"burst message " + i + " not received in order");
		}
		System.out.println("bob's listener received a burst of " + outcomes.size());

		// In the background: Start stopped, a message waits, and a push
		// wake-up's Wake drains it into the listener.
		bob.stop();
		rec.awaitState("stopped");
		String later = "while you were away";
		alice.send("bob", later, TIMEOUT_MS);
		WakeResult woken = bob.wake(20_000);
		check(woken.getMessages() == 1 && !woken.getLive(), "wake: " + woken.getMessages() + " messages");
		Message waited = rec.messages.poll(WAIT_SECONDS, TimeUnit.SECONDS);
		check(waited != null && later.equals(waited.getText()), "wake did not report the message");
		System.out.println("bob's wake drained " + waited.getID());

		// A disappearing timer alice sets reaches bob's listener (inside
		// the encrypted messages) and becomes the conversation's there.
		long hour = TimeUnit.HOURS.toMillis(1);
		alice.setTimer("bob", hour, TIMEOUT_MS);
		check(alice.timer("bob") == hour, "alice's timer " + alice.timer("bob"));
		bob.wake(20_000);
		String change = rec.timers.poll(WAIT_SECONDS, TimeUnit.SECONDS);
		check(("alice " + hour + " false").equals(change) && bob.timer("alice") == hour, "bob's timer event " + change);
		System.out.println("timer: ok");

		// 5. A wrong PIN is an exception starting with parley:wrong_pin.
		bob.lock();
		check(!bob.isUnlocked(), "locked client says unlocked");
		String wrong = failsWith("parley:wrong_pin", "unlock with a wrong PIN",
			() -> bob.unlock("000000".getBytes(StandardCharsets.UTF_8), TIMEOUT_MS));
		System.out.println("wrong PIN: " + wrong);
		bob.unlock(PIN, TIMEOUT_MS);
		check(bob.isUnlocked(), "the right PIN did not unlock");

		// Calls into a locked Client fail with parley:locked.
		alice.lock();
		failsWith("parley:locked", "send while locked", () -> alice.send("bob", "after lock", TIMEOUT_MS));
		bob.lock();

		// A vault locked with a Java Keystore as well: Go calls back into
		// Java for the secret; a Keystore that throws is parley:keystore.
		HmacKeystore ks = new HmacKeystore("device-bound key".getBytes(StandardCharsets.UTF_8));
		File carolHome = new File(tmp, "carol");
		Client carol = device(server, ca, carolHome);
		carol.setKeystore("", ks);
		carol.create(PIN);
		carol.lock();
		Client again = device(server, ca, carolHome);
		failsWith("parley:factors", "unlock without the keystore", () -> again.unlock(PIN, TIMEOUT_MS));
		ks.fail = true;
		again.setKeystore("", ks);
		failsWith("parley:keystore", "unlock with a failing keystore", () -> again.unlock(PIN, TIMEOUT_MS));
		ks.fail = false;
		again.unlock(PIN, TIMEOUT_MS);
		check(again.isUnlocked() && ks.calls >= 3, "keystore unlock (" + ks.calls + " calls)");
		System.out.println("keystore callback: ok");

		// 6. The user's data as JSON (a data subject's copy), then deleting
		// the account erases it at the relay and the vault: the client
		// locks, and its home directory is gone.
		again.register("carol", "", TIMEOUT_MS);
		File export = new File(tmp, "carol-export.json");
		again.exportTo(export.getPath());
		String json = new String(java.nio.file.Files.readAllBytes(export.toPath()), StandardCharsets.UTF_8);
		check(json.contains("\"parley-export/1\"") && json.contains("\"carol\""), "export: " + json);
		System.out.println("export: ok");
		again.deleteAccount(TIMEOUT_MS);
		check(!again.isUnlocked() && !carolHome.exists(), "delete account left the vault");
		System.out.println("delete account: ok");

	}
}
