import ConnectionLifecycle
import SwitchboardTestSupport
import Testing

/// The pure decide function against the table of DESIGN section 1, for every kind, every
/// pair of statuses, both actors and both kinds of previous change.
@Suite struct LifecycleTableTests {
    @Test(arguments: KindCatalog.builtIn.names)
    func decideMatchesTheDesignTable(kindName: String) throws {
        let kind = try #require(KindCatalog.builtIn[kindName])
        for from in ConnectionStatus.allCases {
            for to in ConnectionStatus.allCases {
                for actor in ActorRole.allCases {
                    for lastChangedBy in ActorRole.allCases {
                        let expected = DesignTable.permits(kind: kindName, from: from, to: to, actor: actor,
                                                           lastChangedBy: lastChangedBy)
                        let decision = Lifecycle.decide(
                            TransitionRequest(from: from, to: to, actor: actor, lastChangedBy: lastChangedBy), kind: kind)
                        let context = "\(kindName): \(from.wireName) → \(to.wireName) by \(actor) after a \(lastChangedBy) change"
                        switch decision {
                        case .allowed(let plan):
                            #expect(expected, "allowed but the design forbids it: \(context)")
                            let rule = try #require(DesignTable.rule(kind: kindName, from: from, to: to))
                            #expect(plan.verify == rule.verifies, "verify flag: \(context)")
                            #expect(plan.onVerifyFailure == (actor == .user ? rule.userFailure : nil), "failure status: \(context)")
                        case .rejected(let rejection):
                            #expect(!expected, "rejected but the design allows it: \(context)")
                            #expect(!rejection.reason.isEmpty)
                            // The allowed list is exactly what this actor may request from here.
                            let designAllowed = ConnectionStatus.allCases.filter {
                                DesignTable.rule(kind: kindName, from: from, to: $0).map { actor == .user ? $0.user : $0.system } ?? false
                            }
                            #expect(Set(rejection.allowed) == Set(designAllowed), "allowed list: \(context)")
                        }
                    }
                }
            }
        }
    }

    @Test func deletedIsTerminalForEveryone() {
        for kind in KindCatalog.builtIn.kinds.values {
            #expect(kind.table.edges(from: .deleted).isEmpty)
            for to in ConnectionStatus.allCases {
                for actor in ActorRole.allCases {
                    guard case .rejected = Lifecycle.decide(TransitionRequest(from: .deleted, to: to, actor: actor), kind: kind) else {
                        Issue.record("\(kind.name): deleted → \(to.wireName) was allowed")
                        continue
                    }
                }
            }
        }
    }

    @Test func usersNeverSetNotFoundDirectly() {
        for kind in KindCatalog.builtIn.kinds.values {
            for from in ConnectionStatus.allCases {
                let decision = Lifecycle.decide(TransitionRequest(from: from, to: .notFound, actor: .user), kind: kind)
                #expect(decision.isRejected, "\(kind.name): user moved \(from.wireName) → not found")
            }
        }
    }

    @Test func sessionsRunExactlyWhileConnected() {
        #expect(Lifecycle.effects(from: .registered, to: .connected) == [.startSession])
        #expect(Lifecycle.effects(from: .connected, to: .disconnected) == [.stopSession])
        #expect(Lifecycle.effects(from: .connected, to: .deleted) == [.stopSession, .purgeData, .dropOwnedCredential])
        #expect(Lifecycle.effects(from: .ignored, to: .deleted) == [.purgeData, .dropOwnedCredential])
        #expect(Lifecycle.effects(from: .connected, to: .ignored) == [.stopSession])
        #expect(Lifecycle.effects(from: .discovered, to: .registered).isEmpty)
    }

    @Test func transitionMapHoldsOnlyUserEdges() throws {
        let kind = try #require(KindCatalog.builtIn["kubernetes"])
        let map = kind.userTransitionMap
        #expect(map[.registered]?.map(\.to) == [.connected, .ignored, .maintenance, .deleted])
        #expect(map[.notFound]?.map(\.to) == [.registered, .deleted])
        #expect(map[.deleted] == nil)
        #expect(map.values.joined().allSatisfy { $0.actors.contains(.user) })
    }

    @Test func wireSpellings() {
        #expect(ConnectionStatus.allCases.map(\.wireName) == [
            "discovered", "registered", "connected", "ignored", "maintenance", "disconnected", "deleted", "not found",
        ])
        #expect(ConnectionStatus(rawValue: "not found") == .notFound)
        #expect(ConnectionStatus(rawValue: "notFound") == nil)
    }

    @Test func builtInKinds() throws {
        let expected: [String: (String, String)] = [
            "kubernetes": ("platform", "orchestration"), "prometheus": ("telemetry", "metrics"),
            "grafana": ("telemetry", "metrics"), "helm": ("platform", "registry"),
            "meshery": ("platform", "management"), "http": ("platform", "http"),
        ]
        #expect(Set(KindCatalog.builtIn.names) == Set(expected.keys))
        for (name, (type, subType)) in expected {
            let kind = try #require(KindCatalog.builtIn[name])
            #expect(kind.type == type && kind.subType == subType, "\(name)")
            // A server registers itself: reaching the hub is its check.
            #expect(kind.initialStatus == (name == "meshery" ? .registered : .discovered), "\(name)")
        }
    }

    /// A create is decided like a move: only discovered, registered and connected; the two
    /// last checked first (a failure stores `not found`) unless the kind registers itself;
    /// connected starts its session.
    @Test(arguments: KindCatalog.builtIn.names)
    func creationIsDecidedByTheLifecycle(kindName: String) throws {
        let kind = try #require(KindCatalog.builtIn[kindName])
        // A server that registers itself is connected by its heartbeats, never at create.
        let creatable: [ConnectionStatus] = kindName == "meshery" ? [.discovered, .registered] : [.discovered, .registered, .connected]
        for status in ConnectionStatus.allCases {
            switch Lifecycle.decideCreation(as: status, kind: kind) {
            case .allowed(let plan):
                #expect(creatable.contains(status), "\(kindName) created as \(status.wireName)")
                #expect(plan.verify == (status != .discovered && kindName != "meshery"), "\(kindName) \(status.wireName)")
                #expect(plan.onVerifyFailure == .notFound)
                #expect(plan.effects == (status == .connected ? [.startSession] : []), "\(kindName) \(status.wireName)")
            case .rejected(let rejection):
                #expect(!creatable.contains(status), "\(kindName) refused \(status.wireName)")
                #expect(rejection.allowed == creatable && rejection.reason.contains(status.wireName))
            }
        }
    }
}

@Suite struct ReplayTests {
    private func event(_ from: ConnectionStatus?, _ to: ConnectionStatus) -> LifecycleEvent {
        LifecycleEvent(connectionId: .init(), from: from, to: to, actor: "t", actorRole: .user, reason: nil,
                       correlationId: .init(), at: .now)
    }

    @Test func replayFollowsTheChain() {
        #expect(LifecycleEvent.replay([event(nil, .discovered), event(.discovered, .registered),
                                       event(.registered, .connected)]) == .connected)
        #expect(LifecycleEvent.replay([event(nil, .discovered), event(.discovered, .discovered)]) == .discovered)
    }

    @Test func replayRejectsBrokenLogs() {
        #expect(LifecycleEvent.replay([]) == nil)
        #expect(LifecycleEvent.replay([event(.discovered, .registered)]) == nil)
        #expect(LifecycleEvent.replay([event(nil, .discovered), event(.registered, .connected)]) == nil)
    }
}

extension TransitionDecision {
    var isRejected: Bool {
        if case .rejected = self { return true }
        return false
    }
}
