// The queries' custom combiners obey the Mergeable laws (checkMergeable), so partial values of leased keys merge
// to the same result in any order.
import { checkMergeable } from '@dirigo/core';
import { describe, expect, it } from 'vitest';
import { bestAuction } from './highest-bid.ts';
import { maxCount } from './q5-hot-items.ts';
import { highestBid } from './q7-highest-bid.ts';
import { newUser } from './q8-new-users.ts';

describe('query combiners', () => {
  it('bestAuction: highest price, then lowest auction', () => {
    const samples = [null, { auction: 3, price: 10 }, { auction: 1, price: 10 }, { auction: 2, price: 20 }];
    expect(checkMergeable(bestAuction, samples)).toEqual([]);
    expect(bestAuction.combine(samples[1]!, samples[2]!)).toEqual({ auction: 1, price: 10 });
  });

  it('maxCount: the highest count and all auctions that have it', () => {
    const samples = [
      { count: 0, auctions: [] },
      { count: 2, auctions: [5] },
      { count: 2, auctions: [3, 9] },
      { count: 7, auctions: [1] },
    ];
    expect(checkMergeable(maxCount, samples)).toEqual([]);
    expect(maxCount.combine(samples[1]!, samples[2]!)).toEqual({ count: 2, auctions: [3, 5, 9] });
  });

  it('highestBid: price, then earliest, then lowest bidder and auction', () => {
    const bid = (price: number, dateTime: number, bidder = 1, auction = 1) => ({
      auction,
      bidder,
      price,
      dateTime,
    });
    const samples = [null, bid(10, 5), bid(10, 3), bid(10, 3, 0), bid(10, 3, 0, 0), bid(11, 9)];
    expect(checkMergeable(highestBid, samples)).toEqual([]);
    expect(highestBid.combine(bid(10, 5), bid(10, 3))).toEqual(bid(10, 3));
  });

  it('newUser: the name once known, auctions summed', () => {
    const samples = [
      { name: null, auctions: 0 },
      { name: null, auctions: 2 },
      { name: 'Kate', auctions: 0 },
      { name: 'Anna', auctions: 1 },
    ];
    expect(checkMergeable(newUser, samples)).toEqual([]);
  });
});
