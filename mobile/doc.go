// Package mobile is Parley for Android and iOS apps: the client SDK
// (parley.dev/client) wrapped for gomobile, with the types gobind can
// carry (strings, byte arrays, booleans, numbers, objects and callback
// interfaces). It adds no rules of its own: every check is the client's.
//
// # Building the library
//
// gomobile builds an Android library (.aar, with the Java classes) or an
// iOS framework (.xcframework, with Objective-C headers Swift imports).
// It needs the Android SDK and NDK (ANDROID_HOME and ANDROID_NDK_HOME
// set) or Xcode, and a module that requires both this module and
// golang.org/x/mobile (Parley's own go.mod keeps x/mobile out), such as
// the app's build module. With the x/mobile version CI checks the
// bindings with:
//
//	go install golang.org/x/mobile/cmd/gomobile@v0.0.0-20261011034528-197770444867
//	gomobile init
//	go get golang.org/x/mobile/bind@v0.0.0-20261011034528-197770444867
//	gomobile bind -target=android -androidapi 24 -javapkg=com.example.chat -o parley.aar parley.dev/mobile
//	gomobile bind -target=ios -o Parley.xcframework parley.dev/mobile
//
// Add parley.aar to the app's libs (implementation(files("libs/parley.aar")))
// or Parley.xcframework to the Xcode target. Java and Kotlin classes are
// in the package mobile (com.example.chat.mobile with -javapkg);
// Objective-C and Swift names start with Mobile (MobileClient,
// MobileNewConfig). Without the SDK or Xcode, CI checks on every run
// (mobile/jnitest/run) that gobind binds every method for Java and
// Objective-C, that the package cross-compiles for android/arm64 and
// ios/arm64, and that a Java program drives two devices through the
// generated classes against a real relay, listener callbacks included.
//
// # First run and every run
//
// A Client is one device of one user. Create its vault with the user's
// PIN on the first run, Unlock it on every later run, register once with
// a token from the app's backend, then send, and receive through a
// Listener. In Kotlin:
//
//	val cfg = Mobile.newConfig(File(filesDir, "parley").path)
//	cfg.server = "https://chat.example.com"
//	val parley = Mobile.newClient(cfg)
//	parley.setKeystore("", AndroidKeystoreHmac())    // optional: see Keystore
//	if (firstRun) parley.create(pin) else parley.unlock(pin, 10_000)
//	if (firstRun) parley.register(userName, tokenFromBackend, 15_000)
//	parley.setListener(object : Listener {
//	    override fun onMessage(m: Message) = ui.post { show(m) }
//	    override fun onDelivery(messageID: String, status: String) { ... }
//	    override fun onIdentityChanged(user: String, held: Boolean) { ... }
//	    override fun onGroupChanged(c: GroupChange) { ... }
//	    override fun onTimer(user: String, timerMs: Long, outgoing: Boolean) { ... }
//	    override fun onError(message: String, messageID: String) { ... }
//	    override fun onConnection(state: String) { ... }
//	})
//	parley.start()                                   // onStart; parley.stop() in onStop
//	val sent = parley.send("bob", "Hi Bob!", 15_000) // sent.status: "sent" or "queued"
//
// In Swift the same, with Objective-C's errors as throws:
//
//	let cfg = MobileNewConfig(dir.path)!
//	cfg.server = "https://chat.example.com"
//	var err: NSError?
//	let parley = MobileNewClient(cfg, &err)!
//	try parley.unlock(pin, timeoutMs: 10_000)
//	parley.setListener(listener)                     // a class adopting MobileListener
//	try parley.start()                               // sceneWillEnterForeground
//	let sent = try parley.send("bob", text: "Hi Bob!", timeoutMs: 15_000)
//
// PINs are byte arrays (pin.toByteArray(), Data(pin.utf8)) so the app can
// overwrite its copy. A Keystore (Android Keystore, Secure Enclave) makes
// every PIN guess need the phone: docs/factors.md shows both. After
// Register, SetFactors(pin, true, ...) makes the relay count wrong PINs
// too. Lock drops every key from memory; Unlock opens the vault again.
//
// # Threads, timeouts and cancellation
//
// Every method may be called from any thread and blocks it: call them off
// the main thread. There is no context.Context; instead:
//
//   - Methods that may reach the relay take timeoutMs, a deadline in
//     milliseconds for the whole call (0 or less means DefaultTimeoutMs,
//     30 s); past it they fail with parley:timeout: Unlock, ChangePIN,
//     SetFactors, RelayAttemptsLeft, Register, RegisterLinked,
//     LinkRequest, ApproveLink, Devices, RevokeDevice, DeleteAccount,
//     Send, SendMany, SendFile,
//     SendGroup, SaveFile, Download, Verify, VerifyQR, AcceptIdentity,
//     CreateGroup, AddMembers, RemoveMembers, SetAdmins, RenameGroup,
//     LeaveGroup, RegisterPush, UnregisterPush, RefreshPolicy, SetTimer,
//     Wake.
//   - Methods that read or write the vault only take none: Create,
//     Address, Contacts, SafetyNumber, History, Groups, Group, ExportTo,
//     GroupHistory, Policy, Timer, Lock, IsUnlocked, SetKeystore,
//     SetListener.
//   - Client.Cancel is the cancel handle: it ends every call in progress
//     on that Client (they fail with parley:canceled); later calls run
//     normally.
//   - The live connection runs until told otherwise: Start returns at
//     once, and Stop or Lock end it.
//
// # Lifecycle and push
//
// In the foreground, Start keeps a live connection: messages arrive as
// they are sent and reconnection is automatic (Listener.OnConnection
// tells the state). Stop it when the app leaves the foreground.
//
// In the background the relay wakes the phone through the operator's
// push gateway (FCM, APNs) when mail waits. Give the relay the token the
// platform hands the app, after Register and whenever it changes
// (UnregisterPush takes it back). The push carries no sender, count or
// content: the app answers it with Wake, which connects, sends the
// outbox, receives, stores and acknowledges everything waiting, reports
// it to the Listener and disconnects, all within the deadline given. iOS
// allows about 30 s, so pass less; Cancel ends a Wake early (when iOS
// says time is up). Wake does nothing while Start's connection runs. In
// Kotlin:
//
//	class Push : FirebaseMessagingService() {
//	    override fun onNewToken(token: String) = parley.registerPush(Mobile.PushFCM, token, 15_000)
//	    override fun onMessageReceived(msg: RemoteMessage) {
//	        val r = parley.wake(20_000)    // r.messages new ones went to the Listener
//	    }
//	}
//
// In Swift:
//
//	func application(_ app: UIApplication, didRegisterForRemoteNotificationsWithDeviceToken token: Data) {
//	    let hex = token.map { String(format: "%02x", $0) }.joined()
//	    try? parley.registerPush(MobilePushAPNs, token: hex, timeoutMs: 15_000)
//	}
//	func application(_ app: UIApplication, didReceiveRemoteNotification info: [AnyHashable: Any],
//	                 fetchCompletionHandler done: @escaping (UIBackgroundFetchResult) -> Void) {
//	    DispatchQueue.global().async {
//	        let r = try? parley.wake(20_000)
//	        done((r?.messages ?? 0) > 0 ? .newData : .noData)
//	    }
//	}
//
// The vault must be unlocked to receive: an app that locks it in the
// background (Lock) shows a generic notification instead and receives on
// the next Unlock and Start. Message text is never in the push; the app
// writes its own notification from what the Listener reports. A relay
// without a push gateway answers RegisterPush with parley:push_disabled.
//
// # Files, pins and tenant policy
//
// SendFile encrypts a file on the device and sends it; received files up
// to Config.AutoDownload bytes come by themselves, others with Download,
// and SaveFile writes one out. Config.Pins pins the relay's key
// (parley:untrusted if it does not match). An enterprise app sets
// Config.PolicyKey: the device then follows its administrator's signed
// policy (Policy, RefreshPolicy) and refuses what it forbids with
// parley:policy.
//
// # Lists and history
//
// gobind carries no lists, so lists are objects with size() and get(i),
// and lists the app passes (group members) are a StringList it fills.
// History and GroupHistory return a page of at most limit messages,
// oldest first; pass the page's Next as the next call's before to read
// further back, until Next is "".
//
// # Errors
//
// Every error reaches Java and Kotlin as an Exception, and Swift as a
// thrown NSError, whose message starts with "parley:" and a stable code,
// then a colon and a description for logs. Branch on the code:
//
//	parley:wrong_pin          wrong PIN; the message says how many attempts are left
//	parley:too_many_attempts  too many wrong PINs: wait (the message says until when)
//	parley:wiped              the vault destroyed itself after too many wrong PINs: Create anew
//	parley:relay_locked       the relay destroyed the vault's key after too many wrong PINs
//	parley:relay_needed       the vault needs the relay to unlock and it cannot be reached
//	parley:relay_key_unknown  the relay no longer holds the vault's key (device revoked)
//	parley:weak_pin           a new PIN breaks the PIN policy (PINRules says what passes)
//	parley:keystore           the app's Keystore failed (the user canceled biometrics ...)
//	parley:factors            the vault needs other factors: SetKeystore as at Create (or its last SetFactors)
//	parley:exists             Create: a vault is there already; Unlock it
//	parley:no_vault           Unlock: no vault there; Create one
//	parley:corrupt            the vault's files are damaged or tampered with
//	parley:vault_too_new      a newer version of the app wrote the vault: update (nothing was changed)
//	parley:in_use             another process has the vault open
//	parley:locked             the Client is locked: Unlock first
//	parley:not_registered     Register first
//	parley:registered         Register on a registered device
//	parley:no_server          no relay URL: set Config.Server
//	parley:bad_config         Server, CAFile are unusable
//	parley:queued             the message waits in the outbox (Send reports it as Status "queued" instead)
//	parley:untrusted          the relay's certificate does not verify
//	parley:revoked            the relay no longer accepts this device
//	parley:rate_limited       the relay asks to slow down: try later
//	parley:displaced          a newer connection of this device took over
//	parley:unknown_user       no such user on the relay
//	parley:user_exists        Register: the name is taken
//	parley:token              Register: token missing or refused; get a new one
//	parley:identity_changed   the contact's verified identity changed: sending is held
//	parley:unknown_contact    no identity known for that user yet
//	parley:safety_mismatch    the safety number does not match: do not mark verified
//	parley:listening          another live connection or Wake runs
//	parley:undecryptable      (OnError) a message could not be decrypted: ask to resend
//	parley:unreadable         (OnError) a message could not be read and was dropped
//	parley:too_large          the file is larger than the relay accepts
//	parley:quota              the relay keeps no more files of this user for now
//	parley:file_changed       the file changed while it was being sent
//	parley:no_attachment      no file with that message ID
//	parley:attachment_gone    the relay no longer has the file
//	parley:attachment_corrupt the downloaded file does not authenticate
//	parley:group_refused      (OnError) a change to a group was refused
//	parley:unknown_group      no group with that ID
//	parley:not_group_member   not a member of that group
//	parley:not_group_admin    only an admin may do that
//	parley:push_disabled      RegisterPush: the relay sends no push wake-ups
//	parley:policy             the tenant policy forbids this (the message names the rule)
//	parley:policy_forged      the relay served a tenant policy that does not verify
//	parley:policy_rollback    the relay served an older tenant policy than the device holds
//	parley:deleted            the message's timer ran out before it was sent (a file still uploading): it was deleted, not sent
//	parley:invalid            an argument is malformed
//	parley:timeout            the call's timeoutMs passed (the relay was not reached in time)
//	parley:canceled           Cancel ended the call
//	parley:unreachable        the relay could not be reached
//	parley:relay              another refusal of the relay (its name follows)
//	parley:internal           anything else (a bug: report it)
//
// Codes are never renamed or reused; new ones may be added.
package mobile
